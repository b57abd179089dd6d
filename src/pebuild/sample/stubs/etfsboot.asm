; pebuild sample etfsboot.com: the El Torito no-emulation boot image, doing what Microsoft's does.
;
; Loaded at 0000:7C00 by the BIOS with DL = the CD drive (E0h under SeaBIOS). Checks the int 13h
; extensions, finds BOOTMGR in the root directory of the ISO 9660 volume (PVD at LBA 16;
; iso9660.inc), loads the whole file at 2000:0000 where NT6 boot code loads bootmgr, prints
;   etfsboot.com: \BOOTMGR lba=<first sector> size=<bytes> dl=<drive>
; and jumps to 2000:0000 with DL unchanged. It prints no PEBUILD-SAMPLE marker: only the boot
; manager it loaded can pass a smoke run. Errors print one `pebuild-standin etfsboot.com: ...`
; line and power the machine off.
;
; Assemble: nasm -f bin -o etfsboot.bin etfsboot.asm (ETFSBOOT_CODE in _code.py).

        bits 16
        org 0x7C00

ISO_BUF  equ 0x9000                     ; after the 4096-byte image (7C00-8BFF)
LINE     equ 0x9800
LOAD_SEG equ 0x2000
MAX_SIZE equ 0x9F000 - 0x20000          ; up to the EBDA

%include "bios_base.inc"

start:  START_AT_7C00 main
        mov [drive], dl
        call serial_init
        mov ah, 0x41
        mov bx, 0x55AA
        mov dl, [drive]
        int 0x13
        mov si, e_noext
        jc fail
        cmp bx, 0xAA55
        jne fail
        call iso_mount
        mov si, s_bootmgr
        call iso_path
        mov si, e_nobootmgr
        jc fail
        mov si, e_size
        or ecx, ecx
        jz fail
        cmp ecx, MAX_SIZE
        ja fail
        mov [file_lba], eax
        mov [file_size], ecx
        mov dx, LOAD_SEG
        xor di, di
        call iso_load
        mov si, e_read
        jc fail
        mov di, LINE
        mov si, s_loaded
        call app_str
        mov eax, [file_lba]
        call app_dec32
        mov si, s_size
        call app_str
        mov eax, [file_size]
        call app_dec32
        call app_dl
        call print_line
        mov dl, [drive]
        jmp LOAD_SEG:0

%include "rm_io.inc"
%include "iso9660.inc"

s_bootmgr:   db "\BOOTMGR", 0
s_loaded:    db "etfsboot.com: \BOOTMGR lba=", 0
s_size:      db " size=", 0
e_prefix:    db "pebuild-standin etfsboot.com: ", 0
e_noext:     db "no int 13h extensions on the boot drive", 0
e_nobootmgr: db "BOOTMGR is not in the root directory of the disc", 0
e_size:      db "BOOTMGR is empty or larger than 508 KiB", 0
e_read:      db "int 13h read error while loading BOOTMGR", 0
file_lba:    dd 0
file_size:   dd 0
data:
