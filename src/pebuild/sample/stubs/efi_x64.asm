; pebuild sample EFI application, x64 (the .text section of a PE32+ image).
;
; EFI_STATUS efi_main(EFI_HANDLE ImageHandle /*rcx*/, EFI_SYSTEM_TABLE *st /*rdx*/)
; Decodes the marker appended after `data` (u16 length, bytes XOR 0x5A) into a
; CHAR16 buffer on the stack, prints it with st->ConOut->OutputString, then
; " fw=" + st->FirmwareVendor + CRLF (OVMF copies ConOut to the serial port),
; then calls st->RuntimeServices->ResetSystem(EfiResetShutdown).
; RIP-relative only, so the image needs no relocations.
;
; Offsets (UEFI 2.x, x64): SystemTable FirmwareVendor 0x18, ConOut 0x40,
; RuntimeServices 0x58; SIMPLE_TEXT_OUTPUT.OutputString 0x08;
; RuntimeServices.ResetSystem 0x68.
;
; Assemble: nasm -f bin -o efi_x64.bin efi_x64.asm (checked in as EFI_X64_CODE).

        bits 64
        default rel

entry:
        push rbx
        push rsi
        push rdi
        push rbp                        ; rsp = 8 mod 16 here
        sub rsp, 0x228                  ; 16-byte aligned, 32 bytes shadow space
        mov rbx, rdx                    ; rbx = SystemTable

        lea rsi, [data]
        movzx ecx, word [rsi]
        add rsi, 2
        lea rdi, [rsp + 0x20]
.decode:
        jrcxz .decoded
        lodsb
        xor al, 0x5A
        movzx eax, al
        stosw
        dec ecx
        jmp .decode
.decoded:
        xor eax, eax
        stosw
        mov rcx, [rbx + 0x40]           ; ConOut
        lea rdx, [rsp + 0x20]
        call [rcx + 0x08]               ; OutputString(ConOut, marker)

        mov rdx, [rbx + 0x18]           ; FirmwareVendor
        test rdx, rdx
        jz .crlf
        mov rcx, [rbx + 0x40]
        call [rcx + 0x08]
.crlf:
        mov dword [rsp + 0x20], 0x000A000D   ; L"\r\n"
        mov word [rsp + 0x24], 0
        mov rcx, [rbx + 0x40]
        lea rdx, [rsp + 0x20]
        call [rcx + 0x08]

        mov rax, [rbx + 0x58]           ; RuntimeServices
        mov ecx, 2                      ; EfiResetShutdown
        xor edx, edx                    ; EFI_SUCCESS
        xor r8d, r8d
        xor r9d, r9d
        call [rax + 0x68]               ; ResetSystem: does not return
.hang:
        hlt
        jmp .hang
data:
