"""Machine code assembled from the .asm files beside this module (nasm 2.16, `nasm -f bin`) and
efi_aa64.S (binutils 2.40 aarch64-linux-gnu-as, or llvm-mc).

Checked in as bytes so nothing needs an assembler at run or test time; tests/sample
re-assemble the sources when the assembler is present and compare byte for byte.
"""

from __future__ import annotations

#: bios.asm, 187 bytes; the marker record follows the last byte
BIOS_CODE = bytes.fromhex(
    "fa31c08ed88ec08ed0bc007cea117c0000fbfc8816ba7cbaf90330c0eebafb03b080eebaf803b001ee4230c0eebafb03"
    "b003eebafa03b0c7eebafc03b00beebebb7cad89c1e309ac345ae8510049ebf5b020e84900b064e84400b06ce83f00b0"
    "3de83a00a0ba7cc0e804e82700a0ba7ce82100b00de82600b00ae82100bafd03eca84074fbb80020ba0406efba04b0ef"
    "faf4ebfc240f04303c39760204075250bafd03eca82074fb58baf803ee5053b40ebb0700cd105b585ac300"
)

#: efi_x64.asm, 129 bytes; the marker record follows the last byte
EFI_X64_CODE = bytes.fromhex(
    "535657554881ec280200004889d3488d356c0000000fb70e4883c602488d7c2420e30cac345a0fb6c066abffc9ebf231"
    "c066ab488b4b40488d542420ff5108488b53184885d27407488b4b40ff5108c74424200d000a0066c74424240000488b"
    "4b40488d542420ff5108488b4358b90200000031d24531c04531c9ff5068f4ebfd"
)

#: efi_ia32.asm, 130 bytes; the marker record follows the last byte
EFI_IA32_CODE = bytes.fromhex(
    "5589e553565781ec100200008b5d0ce8000000005e83c66e0fb70e83c60289e7e30bac345a0fb6c066ab49ebf331c066"
    "ab89e050ff732c8b432cff500483c4088b431885c0740d50ff732c8b432cff500483c408c704240d000a0066c7442404"
    "000089e050ff732c8b432cff500483c4086a006a006a006a028b4338ff5040f4ebfd"
)

#: efi_aa64.S, 168 bytes (GNU as / llvm-mc syntax); the marker record follows the last byte
EFI_ARM64_CODE = bytes.fromhex(
    "fd7bbea9fd030091f35301a9ff4308d1f30301aaa204001043244078e4030091460b8052c300003445144038a500064a"
    "8524007863040051fbffff179f000079602240f9e1030091080440f900013fd6610e40f9810000b4602240f9080440f9"
    "00013fd6a50180524501a072e50300b9ff0b0079602240f9e1030091080440f900013fd6682e40f9083540f940008052"
    "010080d2020080d2030080d200013fd67f2003d5ffffff17"
)

#: ia64: one all-zero bundle (template 0x00 MII: break.m 0 / break.i 0 / break.i 0).
#: Never executed here (no IA64 firmware); it only gives the image a code section.
EFI_IA64_CODE = bytes(16)

#: x86/amd64 Windows stand-in entry: `xor eax, eax` ; `ret` (exit code 0)
WIN_X86_CODE = bytes.fromhex("31c0c3")

#: bootmgr.asm: relocates the appended bios.asm program from 2000:0000 to 0000:7C00 and runs it
BOOTMGR_HEAD = bytes.fromhex("fa8cc88ed831c08ec0be1a00bf007cb90004fcf3a5ea007c0000")
