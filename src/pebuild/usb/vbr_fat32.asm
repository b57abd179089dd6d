; pebuild FAT32 volume boot record: load \BOOTMGR to 2000:0000 and run it.
;
; What `bootsect /nt60` installs does the same job: find BOOTMGR in the root
; directory, load the whole file at 2000:0000 and jump there with DL = the BIOS
; drive number, leaving the boot sector (with its BPB) at 0000:7C00 for
; bootmgr's 16-bit start-up code. This is our own code, written from the FAT
; specification (fatgen103); Microsoft's code is not copied.
;
; pebuild.fat replaces bytes 3..89 (the FAT32 BPB) with the real volume's BPB.
; LBA reads only (INT 13h AH=42h; without extensions it says "Disk error"). Short name match on "BOOTMGR    " (the
; alias that a long name "bootmgr" also gets). Limit: the file must end below
; 9F00:0000 (about 508 KiB), as the conventional memory ends there.
;
; Assemble: nasm -f bin -o vbr_fat32.bin vbr_fat32.asm (bytes checked in as
; VBR_FAT32 in _bootcode.py; tests/usb re-assemble it when nasm is installed).

        bits 16
        cpu 386
        org 0x7C00

BPB_SecPerClus  equ 0x7C0D
BPB_RsvdSecCnt  equ 0x7C0E
BPB_NumFATs     equ 0x7C10
BPB_HiddSec     equ 0x7C1C
BPB_FATSz32     equ 0x7C24
BPB_RootClus    equ 0x7C2C
BS_DrvNum       equ 0x7C40

fat_start       equ 0x0500          ; dword: first FAT sector (absolute LBA)
data_start      equ 0x0504          ; dword: first data sector (absolute LBA)
fat_cached      equ 0x0508          ; dword: FAT sector now in FAT_BUF
FAT_BUF         equ 0x7E00          ; one FAT sector
DIR_SEG         equ 0x1000          ; one directory cluster at 1000:0000
LOAD_SEG        equ 0x2000          ; BOOTMGR goes to 2000:0000
LOAD_END_SEG    equ 0x9F00
EOC             equ 0x0FFFFFF8

        jmp short start
        nop
        times 90 - ($ - $$) db 0        ; OEM name and FAT32 BPB (filled in by pebuild.fat)

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        jmp 0x0000:go
go:     sti
        cld
        mov [BS_DrvNum], dl
        mov eax, [BPB_HiddSec]
        movzx ebx, word [BPB_RsvdSecCnt]
        mov [fat_cached], ebx           ; never a FAT sector number: "nothing cached"
        add eax, ebx
        mov [fat_start], eax
        movzx cx, byte [BPB_NumFATs]
.fats:  add eax, [BPB_FATSz32]
        loop .fats
        mov [data_start], eax

        mov eax, [BPB_RootClus]
dir_cluster:
        mov bx, DIR_SEG
        mov es, bx
        call read_cluster
        movzx cx, byte [BPB_SecPerClus]
        shl cx, 4                       ; 16 entries per sector
        xor di, di
.entry: cmp byte [es:di], 0
        je err_missing                  ; end of directory
        test byte [es:di + 11], 0x18    ; skip volume label, LFN parts, directories
        jnz .next
        push cx
        push di
        mov si, bootmgr_name
        mov cx, 11
        repe cmpsb
        pop di
        pop cx
        je found
.next:  add di, 32
        loop .entry
        call next_cluster
        cmp eax, EOC
        jb dir_cluster
        jmp err_missing

found:  mov ax, [es:di + 20]            ; first cluster, high word
        shl eax, 16
        mov ax, [es:di + 26]            ; low word
        cmp eax, 2
        jb err_missing                  ; empty file
        mov bx, LOAD_SEG
.load:  movzx cx, byte [BPB_SecPerClus]
        shl cx, 5                       ; paragraphs per cluster
        mov dx, bx
        add dx, cx
        cmp dx, LOAD_END_SEG
        ja err_big
        mov es, bx
        call read_cluster
        mov bx, dx
        call next_cluster
        cmp eax, EOC
        jb .load
        mov dl, [BS_DrvNum]
        jmp LOAD_SEG:0x0000

; read_cluster: cluster EAX to ES:0000 (all registers kept)
read_cluster:
        pushad
        sub eax, 2
        movzx ecx, byte [BPB_SecPerClus]
        mul ecx
        add eax, [data_start]
        xor bx, bx
        call read_sectors
        popad
        ret

; read_sectors: CX sectors from LBA EAX to ES:BX, via a DAP built on the stack
read_sectors:
        push dword 0
        push eax
        push es
        push bx
        push cx
        push word 0x0010
        mov si, sp
        mov dl, [BS_DrvNum]
        mov ah, 0x42
        int 0x13
        jc err_disk
        add sp, 16
        ret

; next_cluster: EAX = FAT32 entry of cluster EAX (masked to 28 bits)
next_cluster:
        push es
        push bx
        push cx
        push si
        xor bx, bx
        mov es, bx
        shl eax, 2
        mov si, ax
        and si, 511
        shr eax, 9
        add eax, [fat_start]
        cmp eax, [fat_cached]
        je .have
        mov [fat_cached], eax
        mov bx, FAT_BUF
        mov cx, 1
        push si
        call read_sectors
        pop si
.have:  mov eax, [FAT_BUF + si]
        and eax, 0x0FFFFFFF
        pop si
        pop cx
        pop bx
        pop es
        ret

err_big:
        mov si, msg_big
        jmp fail
err_disk:
        mov si, msg_disk
        jmp fail
err_missing:
        mov si, msg_missing
fail:   lodsb
        test al, al
        jz .wait
        mov ah, 0x0E
        mov bx, 0x0007
        int 0x10
        jmp fail
.wait:  xor ax, ax
        int 0x16
        int 0x19

bootmgr_name:   db "BOOTMGR    "
msg_missing:    db "BOOTMGR missing", 13, 10, 0
msg_disk:       db "Disk error", 13, 10, 0
msg_big:        db "BOOTMGR too big", 13, 10, 0

        times 510 - ($ - $$) db 0
        dw 0xAA55
