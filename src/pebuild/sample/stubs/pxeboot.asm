; pebuild sample pxeboot.n12 / pxeboot.com: a real-mode PXE network boot program (NBP).
;
; Loaded at 0000:7C00 by the PXE ROM (iPXE under SeaBIOS in the tests). Like Microsoft's
; pxeboot.n12 it takes the boot file name it was given (BOOTP `file` field of the cached
; reply, PXENV_GET_CACHED_INFO type 3, else the DHCPACK) and downloads `bootmgr.exe` from the
; directory before that name's last backslash, over TFTP through the PXE API
; (PXENV_TFTP_READ_FILE). A name with forward slashes (`Boot/x64/pxeboot.n12`) has no
; backslash, so it asks for `bootmgr.exe` at the TFTP root and fails the same way the real
; one does ("TFTP download failed", issue 13).
;
; Prints `<marker> file=<boot file name>`, then loads bootmgr.exe at 1000:0000 and jumps to
; 1000:0040, the real-mode entry of the sample bootmgr.exe (bootmgr_rm.asm; its DOS header
; carries "PBRM" at offset 0x28). On failure it prints one `pebuild-standin pxeboot.n12: ...`
; line and powers the machine off.
;
; Assemble: nasm -f bin -o pxeboot.bin pxeboot.asm (checked in as PXEBOOT_CODE in _pxecode.py).

        bits 16
        org 0x7C00

PKT     equ 0x9000                      ; two cached packets (0x600 each)
LINE    equ 0xA000
PARAMS  equ 0xA400
NAME    equ 0xA600
NEXT    equ 0xA700
LOAD_SEG equ 0x1000
LOAD_MAX equ 0x8000

%include "bios_base.inc"

start:  START_AT_7C00 main
        call serial_init
        call find_pxe
        ; the boot file name: cached reply first, DHCPACK second
        mov ax, 3
        mov dx, PKT
        call get_cached
        jc .ack
        cmp byte [PKT + 108], 0
        jne .have
.ack:   mov ax, 2
        mov dx, PKT
        call get_cached
        mov si, e_nocache
        jc fail
.have:  mov si, PKT
        call server_of
        mov [server], eax
        mov si, PKT + 108
        mov di, NAME
        mov cx, 127
        call copy_opt
        cmp byte [NAME], 0
        jne .named
        mov si, PKT                     ; no file field: option 67
        mov al, 67
        call find_opt
        mov di, NAME
        jc .named
        call copy_opt
.named:
        mov di, LINE
        call app_marker
        mov si, s_file
        call app_str
        mov si, NAME
        call app_str
        call print_line
        ; NEXT = NAME up to and including its last backslash + "bootmgr.exe"
        mov si, NAME
        mov di, NEXT
        mov bx, NEXT                    ; where "bootmgr.exe" goes
.scan:  lodsb
        stosb
        or al, al
        jz .derived
        cmp al, '\'
        jne .scan
        mov bx, di
        jmp .scan
.derived:
        mov di, bx
        mov si, s_bootmgr
        call strcpy
        mov si, NEXT
        mov eax, LOAD_SEG * 16
        mov ecx, LOAD_MAX
        call tftp_read
        jc .dlfail
        push es
        mov ax, LOAD_SEG
        mov es, ax
        cmp dword [es:0x28], 'PBRM'
        pop es
        mov si, e_noentry
        jne fail
        jmp LOAD_SEG:0x0040
.dlfail:
        mov si, e_tftp
        mov bx, NEXT
        jmp fail2

%include "rm_common.inc"

s_file:    db " file=", 0
s_bootmgr: db "bootmgr.exe", 0
e_prefix:  db "pebuild-standin pxeboot.n12: ", 0
e_nocache: db "no cached DHCP packet", 0
e_noentry: db "bootmgr.exe has no real-mode entry (not the sample's)", 0
data:
