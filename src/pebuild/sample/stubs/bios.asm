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
; Assemble: nasm -f bin -o bios.bin bios.asm   (the bytes are checked in as
; BIOS_CODE in stubs/__init__.py; tests re-assemble when nasm is present).

        bits 16
        org 0x7C00

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        jmp 0x0000:main                 ; normalise CS:IP to 0000:7Cxx
main:
        sti
        cld
        mov [drive], dl
        ; COM1: 115200 8N1, FIFO on
        mov dx, 0x3F9
        xor al, al
        out dx, al                      ; IER = 0
        mov dx, 0x3FB
        mov al, 0x80
        out dx, al                      ; DLAB = 1
        mov dx, 0x3F8
        mov al, 1
        out dx, al                      ; divisor low = 1
        inc dx
        xor al, al
        out dx, al                      ; divisor high = 0
        mov dx, 0x3FB
        mov al, 3
        out dx, al                      ; 8N1, DLAB = 0
        mov dx, 0x3FA
        mov al, 0xC7
        out dx, al                      ; FIFO enable + clear
        mov dx, 0x3FC
        mov al, 0x0B
        out dx, al                      ; DTR RTS OUT2

        mov si, data
        lodsw
        mov cx, ax                      ; marker length
.marker:
        jcxz .suffix
        lodsb
        xor al, 0x5A
        call putc
        dec cx
        jmp .marker
.suffix:
        mov al, ' '
        call putc
        mov al, 'd'
        call putc
        mov al, 'l'
        call putc
        mov al, '='
        call putc
        mov al, [drive]
        shr al, 4
        call puthex
        mov al, [drive]
        call puthex
        mov al, 13
        call putc
        mov al, 10
        call putc

        ; let the UART drain (transmitter empty)
        mov dx, 0x3FD
.drain: in al, dx
        test al, 0x40
        jz .drain

        ; ACPI soft-off: SLP_EN | SLP_TYP=0 into PM1a_CNT
        mov ax, 0x2000
        mov dx, 0x604
        out dx, ax
        mov dx, 0xB004
        out dx, ax
.halt:  cli
        hlt
        jmp .halt

; puthex: print the low nibble of AL as a hex digit
puthex:
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe putc
        add al, 'A' - '9' - 1
; putc: AL to COM1 (polling LSR THR-empty) and to the screen (int 10h 0Eh)
putc:
        push dx
        push ax
        mov dx, 0x3FD
.wait:  in al, dx
        test al, 0x20
        jz .wait
        pop ax
        mov dx, 0x3F8
        out dx, al
        push ax
        push bx
        mov ah, 0x0E
        mov bx, 0x0007
        int 0x10
        pop bx
        pop ax
        pop dx
        ret

drive:  db 0
data:
