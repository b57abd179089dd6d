; Head of the sample `bootmgr`: Microsoft's bootmgr is loaded at 2000:0000 by NT6
; boot sectors (bootsect /nt60) and by etfsboot.com, and starts with 16-bit code
; valid there. This head copies the 2048-byte sample BIOS program appended after
; it (bios.asm, valid at 0000:7C00) to 0000:7C00 and jumps there with DL
; unchanged, so the marker (" dl=80") proves a boot sector loaded BOOTMGR and
; passed the drive number.
; Assemble: nasm -f bin -o bootmgr.bin bootmgr.asm (bytes in _code.py BOOTMGR_HEAD)
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
