; pebuild MBR boot code: chain-load the active partition's boot sector (VBR).
;
; The BIOS loads this sector to 0000:7C00. It moves itself to 0000:0600, finds
; the partition entry marked active (0x80), reads that partition's first sector
; to 0000:7C00 with INT 13h extensions (LBA; every BIOS from the last 25 years
; has them), checks the 55 AA signature, and jumps there with DL = boot drive
; and DS:SI = the partition entry, as the classic DOS/Windows MBR does.
;
; Occupies bytes 0..439 only: the disk signature (440), the partition table
; (446) and 55 AA (510) are written by pebuild.usb.
;
; Assemble: nasm -f bin -o mbr.bin mbr.asm  (bytes checked in as MBR_CODE in
; _bootcode.py; tests/usb re-assemble it when nasm is installed).

        bits 16
        cpu 386
        org 0x0600

start:
        cli
        xor ax, ax
        mov ss, ax
        mov sp, 0x7C00
        mov ds, ax
        mov es, ax
        sti
        cld
        mov si, 0x7C00
        mov di, 0x0600
        mov cx, 256
        rep movsw
        jmp 0x0000:relocated

relocated:
        mov [drive], dl
        mov si, 0x07BE                  ; partition table in the relocated copy
        mov cx, 4
.scan:  cmp byte [si], 0x80
        je .found
        add si, 16
        loop .scan
        mov si, msg_noactive
        jmp fail

.found: mov [entry], si
        mov ah, 0x41                    ; INT 13h extensions present?
        mov bx, 0x55AA
        mov dl, [drive]
        int 0x13
        jc .nolba
        cmp bx, 0xAA55
        jne .nolba
        mov si, [entry]
        mov eax, [si + 8]               ; partition start LBA
        mov [dap_lba], eax
        mov si, dap
        mov ah, 0x42
        mov dl, [drive]
        int 0x13
        jc .readerr
        cmp word [0x7DFE], 0xAA55
        jne .novbr
        mov dl, [drive]
        mov si, [entry]
        jmp 0x0000:0x7C00
.nolba: mov si, msg_nolba
        jmp fail
.readerr:
        mov si, msg_read
        jmp fail
.novbr: mov si, msg_novbr

fail:   lodsb
        test al, al
        jz .wait
        mov ah, 0x0E
        mov bx, 0x0007
        int 0x10
        jmp fail
.wait:  xor ax, ax
        int 0x16                        ; wait for a key, then let the BIOS try the next device
        int 0x18

dap:    db 0x10, 0
        dw 1                            ; one sector
        dw 0x7C00, 0x0000               ; to 0000:7C00
dap_lba:
        dd 0, 0
drive:  db 0
entry:  dw 0

msg_noactive: db "pebuild MBR: no active partition", 13, 10, 0
msg_nolba:    db "pebuild MBR: BIOS lacks INT 13h extensions", 13, 10, 0
msg_read:     db "pebuild MBR: disk read error", 13, 10, 0
msg_novbr:    db "pebuild MBR: partition has no boot sector", 13, 10, 0

        times 440 - ($ - $$) db 0
