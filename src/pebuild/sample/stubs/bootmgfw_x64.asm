; pebuild sample bootmgfw.efi (x64): what Microsoft's UEFI boot manager does over PXE, up to the
; point where the pipeline depends on it (issue 13).
;
; EFI_STATUS efi_main(EFI_HANDLE ImageHandle /*rcx*/, EFI_SYSTEM_TABLE *st /*rdx*/)
; Started from a device with EFI_PXE_BASE_CODE_PROTOCOL (firmware PXE):
;   1. takes the packet that named the boot file (Mode->PxeReply, ->ProxyOffer, ->DhcpAck) and
;      fails like bootmgfw (status 0xc0000225) when its BOOTP `file` field is empty, which is
;      what dnsmasq sends without dhcp-no-override (the name then travels only in option 67);
;   2. reads DHCP option 252 from PxeReply, ProxyOffer or DhcpAck, else uses \Boot\BCD;
;   3. downloads that BCD with Mtftp(TFTP_READ_FILE) from the packet's server, hashes it
;      (SHA-256, sha256.inc), finds the .sdi and .wim paths in it (UTF-16LE) and asks their
;      sizes with Mtftp(TFTP_GET_FILE_SIZE);
;   4. prints `<marker> pxe file=<boot file> bcd=<path> sha256=<8 bytes> sdi=<p>:<n> wim=<p>:<n>`.
; Started any other way (CD, USB disk, wimboot's virtual disk) it reads the same facts through the
; firmware's file systems (efi_fs.inc): the first EFI_SIMPLE_FILE_SYSTEM_PROTOCOL volume that has
; \EFI\Microsoft\Boot\BCD; it prints `<marker> bcd=... sha256=... sdi=<p>:<n> wim=<p>:<n>`.
; The byte before the marker record is the mode: 1 = the efisys.bin `bootx64.efi` (cdboot.efi):
; errors say `bootx64.efi`, the BCD must be found and the boot manager it hands over to,
; \EFI\Boot\bootx64.efi, must be on the same volume (` next=<path>:<size>` before ` bcd=`).
; Mode 0 (the media's bootmgfw.efi) with no such volume (HTTP Boot) prints `<marker> fw=<vendor>`.
; Then ResetSystem(shutdown). Errors print one `pebuild-standin <name>: ...` line. Mutable data
; lives in pool memory (EDK2 may map .text read-only); RIP-relative only, no relocations.
;
; Offsets (UEFI 2.x, x64): SystemTable FirmwareVendor 0x18, ConOut 0x40, RuntimeServices 0x58,
; BootServices 0x60; BootServices AllocatePool 0x40, HandleProtocol 0x98; ResetSystem 0x68;
; LOADED_IMAGE DeviceHandle 0x18; PXE_BASE_CODE Mtftp 0x28, Mode 0x68; MODE ProxyOfferReceived 10,
; PxeReplyReceived 12, DhcpAck 1524, ProxyOffer 2996, PxeReply 5940 (after 19 BOOLEAN/UINT8
; fields, two EFI_IP_ADDRESS at 20 and 36 and 1472-byte packets from 52).
;
; Assemble: nasm -f bin -o bootmgfw_x64.bin bootmgfw_x64.asm (BOOTMGFW_X64_CODE in _pxecode.py).

        bits 64
        default rel

M_PROXY_RCVD equ 10
M_REPLY_RCVD equ 12
M_ACK   equ 1524
M_PROXY equ 2996
M_REPLY equ 5940
BCD_MAX equ 0x10000

struc CTX
  .sha:     resb 512
  .line:    resb 1024
  .wline:   resb 2048
  .bcdpath: resb 128
  .sdipath: resb 128
  .wimpath: resb 128
  .file:    resb 132
  .server:  resb 16
  .size:    resq 1
  .li:      resq 1
  .pxe:     resq 1
  .bcd:     resq 1
  .bcdlen:  resq 1
  .status:  resq 1
  .linestart: resq 1
  .handles: resq 1
  .nhandles: resq 1
  .sfs:     resq 1
  .root:    resq 1
  .fh:      resq 1
  .fsize:   resq 1
  .nextsize: resq 1
  .wpath:   resb 512
  .info:    resb 1024
  .iso:     resq 1
  .bio:     resq 1
  .mediaid: resq 1
  .rootlba: resq 1
  .rootsize: resq 1
  .flba:    resq 1
  .dirbuf:  resq 1
  .dirend:  resq 1
endstruc

efi_main:
        push rbx
        push rbp
        push rsi
        push rdi
        push r12
        push r13
        push r14
        push r15
        sub rsp, 0x68
        mov r12, rcx                    ; ImageHandle
        mov r13, rdx                    ; SystemTable
        mov r14, [rdx + 0x60]           ; BootServices
        mov ecx, 2                      ; EfiLoaderData
        mov edx, CTX_size
        lea r8, [rsp + 0x60]
        call [r14 + 0x40]               ; AllocatePool
        test rax, rax
        jnz shutdown
        mov rbp, [rsp + 0x60]
        lea rdi, [rbp + CTX.line]
        call app_marker
        mov [rbp + CTX.linestart], rdi  ; after the marker
        ; LoadedImage -> DeviceHandle -> PXE base code?
        mov rcx, r12
        lea rdx, [guid_loaded_image]
        lea r8, [rbp + CTX.li]
        call [r14 + 0x98]               ; HandleProtocol
        test rax, rax
        jnz not_pxe
        mov rax, [rbp + CTX.li]
        mov rcx, [rax + 0x18]           ; DeviceHandle
        lea rdx, [guid_pxe]
        lea r8, [rbp + CTX.pxe]
        call [r14 + 0x98]
        test rax, rax
        jnz not_pxe
        mov r15, [rbp + CTX.pxe]
        mov rbx, [r15 + 0x68]           ; Mode
        lea rsi, [e_mode]
        cmp dword [rbx + M_ACK + 236], 0x63538263
        jne fail
        ; the packet that named the boot file
        lea rsi, [rbx + M_ACK]
        cmp byte [rbx + M_PROXY_RCVD], 0
        je .c1
        cmp byte [rbx + M_PROXY + 108], 0
        je .c1
        lea rsi, [rbx + M_PROXY]
.c1:    cmp byte [rbx + M_REPLY_RCVD], 0
        je .c2
        cmp byte [rbx + M_REPLY + 108], 0
        je .c2
        lea rsi, [rbx + M_REPLY]
.c2:    push rsi
        lea rdi, [rbp + CTX.file]
        add rsi, 108
        mov ecx, 127
        call copy_str
        pop rsi
        cmp byte [rbp + CTX.file], 0
        jne .named
        lea rsi, [e_nofile]
        jmp fail
.named: ; server: siaddr, else option 54
        mov eax, [rsi + 20]
        test eax, eax
        jnz .srv
        mov al, 54
        call find_opt
        mov eax, 0
        jc .srv
        mov eax, [rsi]
.srv:   mov [rbp + CTX.server], eax
        ; BCD path: option 252 of PxeReply, ProxyOffer, DhcpAck; else \Boot\BCD
        lea rsi, [s_default_bcd]
        lea rdi, [rbp + CTX.bcdpath]
        mov ecx, 127
        call copy_str
        cmp byte [rbx + M_REPLY_RCVD], 0
        je .p2
        lea rsi, [rbx + M_REPLY]
        mov al, 252
        call find_opt
        jnc .got
.p2:    cmp byte [rbx + M_PROXY_RCVD], 0
        je .p3
        lea rsi, [rbx + M_PROXY]
        mov al, 252
        call find_opt
        jnc .got
.p3:    lea rsi, [rbx + M_ACK]
        mov al, 252
        call find_opt
        jc .bcd
.got:   lea rdi, [rbp + CTX.bcdpath]
        call copy_str
.bcd:   ; buffer for the BCD
        mov ecx, 2
        mov edx, BCD_MAX
        lea r8, [rbp + CTX.bcd]
        call [r14 + 0x40]
        test rax, rax
        lea rsi, [e_pool]
        jnz fail
        mov qword [rbp + CTX.size], BCD_MAX
        mov edx, 2                      ; EFI_PXE_BASE_CODE_TFTP_READ_FILE
        mov r8, [rbp + CTX.bcd]
        lea rax, [rbp + CTX.bcdpath]
        call mtftp
        test rax, rax
        jz .hash
        mov [rbp + CTX.status], rax
        mov rdi, [rbp + CTX.linestart]
        lea rdi, [rbp + CTX.line]
        lea rsi, [e_prefix]
        call app_str
        lea rsi, [e_tftp]
        call app_str
        lea rsi, [rbp + CTX.bcdpath]
        call app_str
        lea rsi, [s_status]
        call app_str
        mov rax, [rbp + CTX.status]
        call app_hex64
        jmp print_and_shutdown
.hash:  mov rax, [rbp + CTX.size]
        mov [rbp + CTX.bcdlen], rax
        mov rsi, [rbp + CTX.bcd]
        mov ecx, eax
        push rbp
        lea rbp, [rbp + CTX.sha]
        call sha256
        pop rbp
        lea rbx, [s_ext_sdi]
        lea rdi, [rbp + CTX.sdipath]
        call scan_ext
        lea rbx, [s_ext_wim]
        lea rdi, [rbp + CTX.wimpath]
        call scan_ext
        mov rdi, [rbp + CTX.linestart]
        lea rsi, [s_pxe_file]
        call app_str
        lea rsi, [rbp + CTX.file]
        call app_str
        lea rsi, [s_bcd]
        call app_str
        lea rsi, [rbp + CTX.bcdpath]
        call app_str
        lea rsi, [s_sha]
        call app_str
        mov eax, [rbp + CTX.sha + SHA.h]
        call app_hex32
        mov eax, [rbp + CTX.sha + SHA.h + 4]
        call app_hex32
        lea rsi, [s_sdi]
        call app_str
        lea rsi, [rbp + CTX.sdipath]
        call app_sized
        lea rsi, [s_wim]
        call app_str
        lea rsi, [rbp + CTX.wimpath]
        call app_sized
        jmp print_and_shutdown

not_pxe:
        call fs_facts                   ; efi_fs.inc: prints and shuts down unless no volume has the BCD
        mov rdi, [rbp + CTX.linestart]
        lea rsi, [s_fw]
        call app_str
        mov rsi, [r13 + 0x18]           ; FirmwareVendor (CHAR16)
        test rsi, rsi
        jz print_and_shutdown
.v:     lodsw
        test ax, ax
        jz print_and_shutdown
        stosb
        jmp .v

; fail: rsi = message -> "pebuild-standin bootmgfw.efi: <message>"
fail:
        push rsi
        lea rdi, [rbp + CTX.line]
        lea rsi, [e_prefix]
        cmp byte [data], 0
        je .p
        lea rsi, [e_prefix_cd]
.p:     call app_str
        pop rsi
        call app_str
print_and_shutdown:
        mov word [rdi], 0x0A0D
        mov byte [rdi + 2], 0
        lea rsi, [rbp + CTX.line]
        lea rdi, [rbp + CTX.wline]
.w:     lodsb
        movzx ax, al
        stosw
        test ax, ax
        jnz .w
        mov rcx, [r13 + 0x40]           ; ConOut
        lea rdx, [rbp + CTX.wline]
        call [rcx + 0x08]               ; OutputString
shutdown:
        mov rax, [r13 + 0x58]           ; RuntimeServices
        mov ecx, 2                      ; EfiResetShutdown
        xor edx, edx
        xor r8d, r8d
        xor r9d, r9d
        call [rax + 0x68]               ; ResetSystem
.hang:  hlt
        jmp .hang

; mtftp: edx = operation, r8 = buffer, rax = file name; BufferSize in CTX.size -> rax = status
mtftp:
        sub rsp, 0x58                   ; 0x50 of arguments, keeps rsp 16-byte aligned at the call
        mov rcx, r15
        xor r9d, r9d                    ; Overwrite = FALSE
        lea r10, [rbp + CTX.size]
        mov [rsp + 0x20], r10           ; BufferSize
        mov qword [rsp + 0x28], 0       ; BlockSize: default
        lea r10, [rbp + CTX.server]
        mov [rsp + 0x30], r10           ; ServerIp
        mov [rsp + 0x38], rax           ; Filename
        mov qword [rsp + 0x40], 0       ; Info
        mov qword [rsp + 0x48], 0       ; DontUseBuffer = FALSE
        call [r15 + 0x28]
        add rsp, 0x58
        ret

; app_sized: rsi = path (may be empty) -> "<path>:<tsize>" or "?"
app_sized:
        cmp byte [rsi], 0
        jne .have
        mov byte [rdi], '?'
        inc rdi
        ret
.have:  push rsi
        call app_str
        mov byte [rdi], ':'
        inc rdi
        pop rax                         ; file name
        push rdi
        mov qword [rbp + CTX.size], 0
        mov edx, 1                      ; EFI_PXE_BASE_CODE_TFTP_GET_FILE_SIZE
        xor r8d, r8d
        call mtftp
        pop rdi
        test rax, rax
        jnz .failed
        mov rax, [rbp + CTX.size]
        call app_dec64
        ret
.failed:
        lea rsi, [s_failed]
        call app_str
        ret

; find_opt: rsi = DHCP packet, al = code -> CF clear, rsi = value, ecx = length
find_opt:
        lea rdx, [rsi + 1470]
        add rsi, 240
.next:  cmp rsi, rdx
        jae .none
        mov ah, [rsi]
        cmp ah, 255
        je .none
        test ah, ah
        jnz .opt
        inc rsi
        jmp .next
.opt:   movzx ecx, byte [rsi + 1]
        cmp ah, al
        je .found
        lea rsi, [rsi + rcx + 2]
        jmp .next
.found: add rsi, 2
        clc
        ret
.none:  stc
        ret

; copy_str: rsi -> rdi, at most ecx bytes, stops at NUL; NUL-terminates (rdi advances)
copy_str:
        cmp ecx, 127
        jbe .next
        mov ecx, 127
.next:  jrcxz .done
        lodsb
        test al, al
        jz .done
        stosb
        dec ecx
        jmp .next
.done:  mov byte [rdi], 0
        ret

; app_str: rsi text -> rdi
app_str:
        lodsb
        test al, al
        jz .done
        stosb
        jmp app_str
.done:  mov byte [rdi], 0
        ret

app_marker:
        lea rsi, [data + 1]             ; after the mode byte
        movzx ecx, word [rsi]
        add rsi, 2
.next:  jrcxz .done
        lodsb
        xor al, 0x5A
        stosb
        dec ecx
        jmp .next
.done:  mov byte [rdi], 0
        ret

; app_hex32: eax -> 8 hex digits; app_hex64: rax -> 16
app_hex64:
        push rax
        shr rax, 32
        call app_hex32
        pop rax
app_hex32:
        mov ecx, 8
.next:  rol eax, 4
        mov edx, eax
        and dl, 0x0F
        add dl, '0'
        cmp dl, '9'
        jbe .digit
        add dl, 'a' - '9' - 1
.digit: mov [rdi], dl
        inc rdi
        loop .next
        mov byte [rdi], 0
        ret

; app_dec64: rax in decimal
app_dec64:
        mov r10, 10
        xor ecx, ecx
.div:   xor edx, edx
        div r10
        push rdx
        inc ecx
        test rax, rax
        jnz .div
.out:   pop rax
        add al, '0'
        stosb
        loop .out
        mov byte [rdi], 0
        ret

; scan_ext: rbx = ".ext" -> rdi the first backslash path in the BCD ending in it (UTF-16LE), ASCII
scan_ext:
        mov byte [rdi], 0
        mov rsi, [rbp + CTX.bcd]
        mov rcx, [rbp + CTX.bcdlen]
        sub rcx, 10
        jbe .none
.loop:  cmp word [rsi], '.'
        jne .next
        mov al, [rsi + 2]
        or al, 0x20
        cmp al, [rbx + 1]
        jne .next
        mov al, [rsi + 4]
        or al, 0x20
        cmp al, [rbx + 2]
        jne .next
        mov al, [rsi + 6]
        or al, 0x20
        cmp al, [rbx + 3]
        jne .next
        cmp byte [rsi + 3], 0
        jne .next
        cmp byte [rsi + 5], 0
        jne .next
        cmp byte [rsi + 7], 0
        jne .next
        cmp word [rsi + 8], 0
        je .found
.next:  inc rsi
        dec rcx
        jnz .loop
.none:  ret
.found: lea rdx, [rsi + 8]
        mov r10, [rbp + CTX.bcd]
        add r10, 2
.back:  cmp rsi, r10
        jb .start
        mov ax, [rsi - 2]
        test ah, ah
        jnz .start
        cmp al, 0x20
        jb .start
        cmp al, 0x7E
        ja .start
        sub rsi, 2
        jmp .back
.start: cmp byte [rsi], '\'
        jne .none
        mov ecx, 127
.copy:  cmp rsi, rdx
        jae .copied
        mov al, [rsi]
        stosb
        add rsi, 2
        loop .copy
.copied:
        mov byte [rdi], 0
        ret

%include "sha256.inc"
%include "efi_fs.inc"
%include "efi_iso.inc"

guid_loaded_image: db 0xA1, 0x31, 0x1B, 0x5B, 0x62, 0x95, 0xD2, 0x11, 0x8E, 0x3F, 0x00, 0xA0, 0xC9, 0x69, 0x72, 0x3B
guid_pxe:          db 0x03, 0xE6, 0xC4, 0x03, 0x28, 0xAC, 0xD3, 0x11, 0x9A, 0x2D, 0x00, 0x90, 0x27, 0x3F, 0xC1, 0x4D
s_default_bcd: db "\Boot\BCD", 0
s_fw:      db " fw=", 0
s_pxe_file: db " pxe file=", 0
s_bcd:     db " bcd=", 0
s_sha:     db " sha256=", 0
s_sdi:     db " sdi=", 0
s_wim:     db " wim=", 0
s_ext_sdi: db ".sdi"
s_ext_wim: db ".wim"
s_failed:  db "failed", 0
s_status:  db " status=0x", 0
e_prefix:  db "pebuild-standin bootmgfw.efi: ", 0
e_prefix_cd: db "pebuild-standin bootx64.efi: ", 0
e_mode:    db "no DHCPACK in the PXE base code mode", 0
e_nofile:  db "no boot file name in the DHCP packet's file field: status 0xc0000225", 0
e_pool:    db "AllocatePool failed", 0
e_tftp:    db "TFTP download failed: ", 0
data:
