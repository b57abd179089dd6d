; pebuild sample BIOS boot program (El Torito no-emulation image, PXE NBP, boot sector).
;
; Loaded at 0000:7C00 (or 07C0:0000) by the BIOS or by iPXE.  Prints the
; marker stored after the code on COM1 and on the screen (int 10h teletype),
; then " dl=XX" (the BIOS drive number: E0 = first CD under SeaBIOS, 00 for
; PXE), then powers the machine off through the ACPI PM1a control register
; (QEMU: 0x604 on pc/q35 with current SeaBIOS, 0xB004 on older ones).
;
; Data appended by pebuild.sample.stubs.bios_program right after `data`:
;   u16 length, then `length` bytes of marker XOR 0x5A (so the marker text
;   never appears in the image and a stale log cannot pass a test).
;
; Its own part is only that line; start-up, COM1, the line buffer and power-off are the shared
; bios_base.inc and rm_io.inc.
;
; Assemble: nasm -f bin -o bios.bin bios.asm   (the bytes are checked in as
; BIOS_CODE in stubs/_code.py; tests re-assemble when nasm is present).

        bits 16
        org 0x7C00

LINE    equ 0x9000                      ; past the code and marker record (the rest is padding)

%include "bios_base.inc"

start:  START_AT_7C00 main
        mov [drive], dl
        call serial_init
        mov di, LINE
        call app_marker
        call app_dl
        call print_line
        jmp poweroff

%include "rm_io.inc"

e_prefix: db 0                          ; (rm_io.inc; this program has no error line)
data:
