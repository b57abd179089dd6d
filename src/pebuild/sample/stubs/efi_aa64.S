// pebuild sample EFI application, AArch64 (the .text section of a PE32+ image).
//
// EFI_STATUS efi_main(EFI_HANDLE ImageHandle /*x0*/, EFI_SYSTEM_TABLE *st /*x1*/)
// Decodes the marker appended after `data` (u16 length, bytes XOR 0x5A) into a
// CHAR16 buffer on the stack, prints it with st->ConOut->OutputString, then
// " fw=" + st->FirmwareVendor + CRLF (AAVMF copies ConOut to the PL011 serial
// port), then calls st->RuntimeServices->ResetSystem(EfiResetShutdown), which
// AAVMF turns into PSCI SYSTEM_OFF.  PC-relative only (adr), so the image needs
// no relocations.  AAPCS64: x19/x20 are callee-saved, sp stays 16-byte aligned.
//
// Offsets (UEFI 2.x, 64-bit): SystemTable FirmwareVendor 0x18, ConOut 0x40,
// RuntimeServices 0x58; SIMPLE_TEXT_OUTPUT.OutputString 0x08;
// RuntimeServices.ResetSystem 0x68 (the same table layout as x64).
//
// Assemble: aarch64-linux-gnu-as -o efi_aa64.o efi_aa64.S &&
//           aarch64-linux-gnu-objcopy -O binary -j .text efi_aa64.o efi_aa64.bin
// (or llvm-mc -triple=aarch64 -filetype=obj + llvm-objcopy); checked in as EFI_ARM64_CODE.

        .text
        .globl  entry
entry:
        stp     x29, x30, [sp, #-32]!
        mov     x29, sp
        stp     x19, x20, [sp, #16]
        sub     sp, sp, #0x210          // CHAR16 buffer: 250 + 4 characters and a NUL fit
        mov     x19, x1                 // x19 = SystemTable

        adr     x2, data
        ldrh    w3, [x2], #2            // marker length
        mov     x4, sp
        mov     w6, #0x5a               // 0x5A is no logical immediate: XOR with a register
1:      cbz     w3, 2f
        ldrb    w5, [x2], #1
        eor     w5, w5, w6
        strh    w5, [x4], #2
        sub     w3, w3, #1
        b       1b
2:      strh    wzr, [x4]
        ldr     x0, [x19, #0x40]        // ConOut
        mov     x1, sp
        ldr     x8, [x0, #0x08]
        blr     x8                      // OutputString(ConOut, marker)

        ldr     x1, [x19, #0x18]        // FirmwareVendor
        cbz     x1, 3f
        ldr     x0, [x19, #0x40]
        ldr     x8, [x0, #0x08]
        blr     x8
3:      movz    w5, #0x000d
        movk    w5, #0x000a, lsl #16    // L"\r\n"
        str     w5, [sp]
        strh    wzr, [sp, #4]
        ldr     x0, [x19, #0x40]
        mov     x1, sp
        ldr     x8, [x0, #0x08]
        blr     x8

        ldr     x8, [x19, #0x58]        // RuntimeServices
        ldr     x8, [x8, #0x68]         // ResetSystem
        mov     w0, #2                  // EfiResetShutdown
        mov     x1, #0                  // EFI_SUCCESS
        mov     x2, #0
        mov     x3, #0
        blr     x8                      // does not return
4:      wfi
        b       4b
data:
