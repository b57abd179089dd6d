; pebuild sample bootmgr.exe, real-mode part: what Microsoft's bootmgr.exe does over PXE on BIOS
; up to the point where the pipeline depends on it (issue 13).
;
; The sample pxeboot.n12 (pxeboot.asm) loads the whole bootmgr.exe at 1000:0000 and jumps to
; 1000:0040: this code sits there, in the DOS-stub area of the PE file (the PE32 part,
; bootmgr_pm.asm, is what wimboot runs). It
;   1. reads DHCP option 252 (WDSBP_OPT_BCD_FILE_PATH) from the cached reply, else from the
;      DHCPACK (PXENV_GET_CACHED_INFO types 3 and 2), else uses \Boot\BCD;
;   2. downloads that BCD over TFTP (PXENV_TFTP_READ_FILE) and hashes it (SHA-256, sha256.inc);
;   3. finds the ramdisk's boot.sdi and boot.wim paths in the BCD (UTF-16LE strings ending in
;      .sdi / .wim) and asks the server for their sizes (PXENV_TFTP_GET_FSIZE, TFTP tsize);
;   4. prints `<marker> bcd=<path> sha256=<first 8 bytes> sdi=<path>:<size> wim=<path>:<size>`
;      and powers the machine off. Errors print one `pebuild-standin bootmgr.exe: ...` line.
;
; Assemble: nasm -f bin -o bootmgr_rm.bin bootmgr_rm.asm (BOOTMGR_RM_CODE in _pxecode.py).

        bits 16
        org 0x40

BCD_BUF equ 0x2000                      ; the BCD, up to 40 KiB
BCD_MAX equ 0xA000
PKT     equ 0xC000                      ; cached reply at PKT, DHCPACK at PKT + 0x600
WORK    equ 0xCC00                      ; SHA work area
LINE    equ 0xCE00
PARAMS  equ 0xD200
BCDPATH equ 0xD400
SDIPATH equ 0xD480
WIMPATH equ 0xD500

entry:
        cli
        mov ax, cs
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0xFFF0
        sti
        cld
        call serial_init
        call find_pxe
        mov ax, 3
        mov dx, PKT
        call get_cached
        setc [no_reply]
        mov ax, 2
        mov dx, PKT + PKT_SIZE
        call get_cached
        setc [no_ack]
        ; TFTP server: the cached reply's, else the DHCPACK's
        xor eax, eax
        cmp byte [no_reply], 0
        jne .srv2
        mov si, PKT
        call server_of
.srv2:  or eax, eax
        jnz .srv
        cmp byte [no_ack], 0
        jne .srv
        mov si, PKT + PKT_SIZE
        call server_of
.srv:   mov [server], eax
        ; BCD path: option 252 of the cached reply, of the DHCPACK, else \Boot\BCD
        mov si, s_default_bcd
        mov di, BCDPATH
        call strcpy
        cmp byte [no_reply], 0
        jne .ack252
        mov si, PKT
        mov al, 252
        call find_opt
        jnc .got252
.ack252:
        cmp byte [no_ack], 0
        jne .bcd
        mov si, PKT + PKT_SIZE
        mov al, 252
        call find_opt
        jc .bcd
.got252:
        mov di, BCDPATH
        call copy_opt
.bcd:
        mov si, BCDPATH
        mov ax, cs
        movzx eax, ax
        shl eax, 4
        add eax, BCD_BUF
        mov ecx, BCD_MAX
        call tftp_read
        jc .bcdfail
        mov [bcd_len], ecx
        mov si, BCDPATH
        jmp bcd_facts
.bcdfail:
        mov si, e_tftp
        mov bx, BCDPATH
        jmp fail2

; app_ramdisk: SI = a ramdisk path from the BCD (may be empty) -> "<path>:<tsize>" or "?" at ES:DI
; (bcd_facts calls it for the .sdi and the .wim)
app_ramdisk:
        cmp byte [si], 0
        jne .have
        mov al, '?'
        stosb
        mov byte [di], 0
        ret
.have:  push si
        call app_str
        mov al, ':'
        stosb
        pop si
        push di
        call tftp_size
        pop di
        jc .failed
        call app_dec32
        ret
.failed:
        mov si, s_failed
        call app_str
        ret

%include "bcd_scan.inc"

%include "rm_common.inc"
%include "sha256.inc"

s_default_bcd: db "\Boot\BCD", 0
s_failed:  db "failed", 0
e_prefix:  db "pebuild-standin bootmgr.exe: ", 0
no_reply:  db 0
no_ack:    db 0
bcd_len:   dd 0
data:
