; pebuild sample bootmgr.exe, PE32 part: the entry point wimboot calls on BIOS.
;
; wimboot loads bootmgr.exe as a PE32 image at its ImageBase and calls the entry point in
; 32-bit flat protected mode with one cdecl argument, its boot application descriptor
; (wimboot src/main.c, src/bootapp.c; the descriptor starts with "BOOT APP"). This prints
; `<marker> bootapp=<the descriptor's first 8 bytes>` on COM1 (port I/O, ring 0) and powers
; the machine off, proving wimboot started the sample's boot manager from its ramdisk files.
; Position independent (call/pop), no relocations.
;
; Assemble: nasm -f bin -o bootmgr_pm.bin bootmgr_pm.asm (BOOTMGR_PM_CODE in _pxecode.py).

        bits 32

entry:
        mov ebx, [esp + 4]              ; boot application descriptor
        call .here
.here:  pop edi
        call serial_init
        lea esi, [edi + data - .here]
        movzx ecx, word [esi]
        add esi, 2
.marker:
        jecxz .suffix
        lodsb
        xor al, 0x5A
        call serial_putc
        dec ecx
        jmp .marker
.suffix:
        lea esi, [edi + s_bootapp - .here]
.str:   lodsb
        or al, al
        jz .desc
        call serial_putc
        jmp .str
.desc:  mov ecx, 8
        test ebx, ebx
        jz .crlf
.byte:  mov al, [ebx]
        cmp al, 0x20
        jb .dot
        cmp al, 0x7E
        jbe .put
.dot:   mov al, '.'
.put:   call serial_putc
        inc ebx
        loop .byte
.crlf:  mov al, 13
        call serial_putc
        mov al, 10
        call serial_putc
        jmp poweroff

%include "bios_base.inc"

        COM1_CODE

s_bootapp: db " bootapp=", 0
data:
