; Test stand-in for bootmgr (tests/usb only): runs at 2000:0000 where an NT6-style
; FAT32 boot sector loads BOOTMGR. It copies the 2048-byte sample BIOS program
; appended after it (pebuild.sample.stubs.bios_program, valid at 0000:7C00) to
; 0000:7C00 and jumps there with DL unchanged, so the program's marker (" dl=80")
; proves the VBR loaded BOOTMGR from the FAT32 partition and passed the drive.
; Assemble: nasm -f bin -o bootmgr_probe.bin bootmgr_probe.asm (hex in test_usb_boot.py)
        bits 16
        org 0
        cli
        mov ax, cs
        mov ds, ax
        xor ax, ax
        mov es, ax
        mov si, payload
        mov di, 0x7C00
        mov cx, 1024
        cld
        rep movsw
        jmp 0x0000:0x7C00
payload:
