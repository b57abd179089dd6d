; pebuild sample EFI application, IA32 (the .text section of a PE32 image).
;
; EFI_STATUS EFIAPI efi_main(EFI_HANDLE ImageHandle, EFI_SYSTEM_TABLE *st)
; EFIAPI on IA32 is cdecl: arguments on the stack, caller pops.
; Same behaviour as efi_x64.asm: marker (u16 length + bytes XOR 0x5A after
; `data`) + " fw=" vendor + CRLF on ConOut, then ResetSystem(EfiResetShutdown).
; Position independent through call/pop, so no relocations are needed.
;
; Offsets (UEFI 2.x, IA32): SystemTable FirmwareVendor 0x18, ConOut 0x2C,
; RuntimeServices 0x38; OutputString 0x04; ResetSystem 0x40 (Hdr 24, then
; ten 4-byte pointers GetTime 0x18 .. GetNextHighMonotonicCount 0x3C).
;
; Assemble: nasm -f bin -o efi_ia32.bin efi_ia32.asm (checked in as EFI_IA32_CODE).

        bits 32

entry:
        push ebp
        mov ebp, esp
        push ebx
        push esi
        push edi
        sub esp, 0x210
        mov ebx, [ebp + 12]             ; SystemTable
        call .here
.here:  pop esi
        add esi, data - .here
        movzx ecx, word [esi]
        add esi, 2
        mov edi, esp
.decode:
        jecxz .decoded
        lodsb
        xor al, 0x5A
        movzx eax, al
        stosw
        dec ecx
        jmp .decode
.decoded:
        xor eax, eax
        stosw
        mov eax, esp
        push eax
        push dword [ebx + 0x2C]
        mov eax, [ebx + 0x2C]
        call [eax + 0x04]               ; OutputString(ConOut, marker)
        add esp, 8
        mov eax, [ebx + 0x18]
        test eax, eax
        jz .crlf
        push eax
        push dword [ebx + 0x2C]
        mov eax, [ebx + 0x2C]
        call [eax + 0x04]
        add esp, 8
.crlf:
        mov dword [esp], 0x000A000D
        mov word [esp + 4], 0
        mov eax, esp
        push eax
        push dword [ebx + 0x2C]
        mov eax, [ebx + 0x2C]
        call [eax + 0x04]
        add esp, 8
        push 0                          ; ResetData
        push 0                          ; DataSize
        push 0                          ; ResetStatus (UINTN on IA32)
        push 2                          ; EfiResetShutdown
        mov eax, [ebx + 0x38]
        call [eax + 0x40]               ; ResetSystem
.hang:
        hlt
        jmp .hang
data:
