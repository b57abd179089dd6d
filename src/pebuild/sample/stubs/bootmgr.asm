; pebuild sample bootmgr (BIOS): what Microsoft's bootmgr does up to the point the media depends on.
;
; NT6 boot code (etfsboot.com on a CD, bootsect /nt60 or pebuild's FAT32 VBR on a disk) loads
; the whole file at 2000:0000 and jumps here with DL = the boot drive. This
;   1. checks it was loaded whole: `length` and `adler32` (Adler-32 of bytes 10..length-1) are
;      filled in by pebuild.sample.stubs.bootmgr_program, whose padding is not zeros, so a load
;      cut short (a FAT chain cut after its first cluster) cannot pass;
;   2. on a CD (int 13h 48h: 2048-byte sectors) reads \Boot\BCD from the ISO 9660 volume
;      (iso9660.inc), checks `regf`, hashes it (SHA-256, sha256.inc), finds the ramdisk's .sdi
;      and .wim paths in it (bcd_scan.inc), checks `$SDI0001` and `MSWIM\0\0\0` at their starts
;      and prints the line the PXE stand-ins print (pebuild.qemu.standin compares it):
;        <marker> bcd=\Boot\BCD sha256=<16 hex> sdi=<path>:<size> wim=<path>:<size>
;   3. on a disk does the same through the FAT32 volume whose boot sector (BPB) the VBR left at
;      0000:7C00 (fat32.inc; 8.3 names), a missing file being `not on the disk`; a disk without a
;      FAT32 BPB there gets `<marker> dl=<drive> bytes=<length>` (the whole-load check only);
; then powers the machine off. Errors print one `pebuild-standin bootmgr: ...` line, no marker.
;
; Assemble: nasm -f bin -o bootmgr.bin bootmgr.asm (BOOTMGR_CODE in _code.py).

        bits 16
        org 0

WORK    equ 0x1800                      ; SHA work area (the code and record end below it)
LINE    equ 0x1A00
SDIPATH equ 0x1E00
WIMPATH equ 0x1E80
ISO_BUF equ 0x2000                      ; one sector (2048 bytes on a CD)
SEC_BUF equ 0x2800                      ; FAT32: one 512-byte sector
BPB     equ 0x2A00                      ; FAT32: the volume's BPB, from 0000:7C00
BCD_BUF equ 0x3000
BCD_MAX equ 0xC000                      ; 48 KiB, up to 0xF000; the stack is at 0xFFF0
ADLER   equ 65521

start:  jmp short entry
length: dd 0                            ; offset 2: the file's length
adler:  dd 0                            ; offset 6: Adler-32 of bytes 10..length-1

entry:
        cli
        xor ax, ax                      ; until the check, use the loader's stack: pushes here
        mov ss, ax                      ; would change the bytes being checked
        mov sp, 0x7C00
        mov ax, cs
        mov ds, ax
        mov es, ax
        sti
        cld
        push dx
        call serial_init
        call check_loaded
        pop dx
        jnc whole
        mov si, e_partial
        call fail_line
        mov eax, [length]
        call app_dec32
        mov si, e_bytes
        jmp fail_with

; Everything the whole-load check needs (up to rm_io_core_end of rm_io.inc) sits in the first
; 512 bytes (nasm fails below if not), so even a loader that stopped after one 512-byte cluster
; runs it.
; check_loaded: CF clear when Adler-32 of bytes 10..length-1 (walking 64 KiB segments) is
; `adler`; writes no memory (the bytes it checks include this program's variables)
check_loaded:
        mov ecx, [length]
        cmp ecx, 10
        jb .bad
        cmp ecx, 0x9F000 - 0x20000
        ja .bad
        sub ecx, 10
        mov esi, 1                      ; a
        xor edi, edi                    ; b
        mov dx, cs
        mov bx, 10
        push ds
        test ecx, ecx
        jz .done
.loop:  mov ds, dx
        movzx eax, byte [bx]
        add esi, eax
        cmp esi, ADLER
        jb .a
        sub esi, ADLER
.a:     add edi, esi
        cmp edi, ADLER
        jb .b
        sub edi, ADLER
.b:     inc bx
        jnz .same
        add dx, 0x1000
.same:  dec ecx
        jnz .loop
.done:  pop ds
        shl edi, 16
        or edi, esi
        cmp edi, [adler]
        jne .bad
        clc
        ret
.bad:   stc
        ret

e_prefix:  db "pebuild-standin bootmgr: ", 0
e_partial: db "not loaded whole (the Adler-32 of its ", 0
e_bytes:   db " bytes differs)", 0

%include "rm_io.inc"
        times (rm_io_core_end - $$ > 512) * -1 db 0   ; what runs before the check passes

; whole: the file is all there; from here on the stack and buffers may use its padding
whole:
        cli
        mov ax, cs
        mov ss, ax
        mov sp, 0xFFF0
        sti
        mov [drive], dl
        mov word [ISO_BUF], 0x1E        ; int 13h 48h: drive parameters
        mov si, ISO_BUF
        mov ah, 0x48
        int 0x13
        jc disk
        cmp word [ISO_BUF + 0x18], 2048
        je cd
disk:
        call fat_mount
        jc .plain
        mov word [fs_path], fat_path
        mov word [fs_load], fat_load
        mov word [fs_missing], e_nofile
        jmp media
; .plain: no FAT32 volume to read: the whole-load check is all this stand-in does
.plain:
        mov di, LINE
        call app_marker
        call app_dl
        mov si, s_bytes
        call app_str
        mov eax, [length]
        call app_dec32
        call print_line
        jmp poweroff

cd:
        call iso_mount
; media: the BCD, boot.sdi and boot.wim through fs_path / fs_load (ISO 9660 or FAT32)
media:
        mov si, s_bcdpath
        call [fs_path]
        mov bx, [fs_missing]            ; (mov keeps CF)
        jc fail2
        mov bx, e_toobig
        cmp ecx, BCD_MAX
        ja fail2
        mov [bcd_len], ecx
        mov dx, ds
        mov di, BCD_BUF
        call [fs_load]
        mov bx, e_read
        jc fail2
        mov bx, e_notbcd
        cmp dword [BCD_BUF], 'regf'
        jne fail2
        mov si, s_bcdpath
        jmp bcd_facts                   ; the facts line; app_ramdisk checks each file

; app_ramdisk: SI = a ramdisk path from the BCD (empty: none), BX = its extension -> "<path>:<size>"
; at ES:DI; bcd_facts calls it for the .sdi and the .wim. The file must be on the disc and start
; with its kind's signature, or the stand-in fails.
app_ramdisk:
        push di
        mov bp, bx
        mov bx, s_sdi_sig
        cmp bp, s_ext_sdi
        je .check
        mov bx, s_wim_sig
.check: call check_file
        pop di
        push ecx
        call app_str
        mov al, ':'
        stosb
        pop eax
        jmp app_dec32

; check_file: SI = path from the BCD (empty: none), BX = the 8-byte signature it starts with,
; BP = the extension (for the error) -> ECX = its size, SI kept; a missing file or another
; signature is fatal
check_file:
        push bx
        cmp byte [si], 0
        jne .named
        mov si, e_nopath
        mov bx, bp
        jmp fail2
.named:
        call [fs_path]
        mov bx, [fs_missing]            ; (mov keeps CF)
        jc fail2
        mov bx, e_short
        cmp ecx, 8
        jb fail2
        push ecx
        mov ecx, 8                      ; the first sector
        mov dx, ds
        mov di, ISO_BUF
        call [fs_load]
        pop ecx
        mov bx, e_read
        jc fail2
        pop bx
        push si
        mov si, bx
        mov di, ISO_BUF
        push cx
        mov cx, 8
        repe cmpsb
        pop cx
        pop si
        mov bx, e_header
        jne fail2
        ret

%include "bcd_scan.inc"
%include "iso9660.inc"
%include "fat32.inc"
%include "sha256.inc"

s_bcdpath: db "\Boot\BCD", 0
s_bytes:   db " bytes=", 0
s_sdi_sig: db "$SDI0001"
s_wim_sig: db "MSWIM", 0, 0, 0
e_missing: db ": not on the disc", 0
e_nofile:  db ": not on the disk", 0
e_toobig:  db ": larger than 48 KiB", 0
e_read:    db ": int 13h read error", 0
e_notbcd:  db ": not a registry hive (no regf)", 0
e_nopath:  db "the BCD names no ramdisk file ending in ", 0
e_short:   db ": shorter than its header", 0
e_header:  db ": wrong header (not this kind of file)", 0
bcd_len:   dd 0
fs_path:   dw iso_path
fs_load:   dw iso_load
fs_missing: dw e_missing
data:
