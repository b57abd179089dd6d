"""Small but real registry hives for the sample winpe.wim, made with pebuild.hive.

They hold the keys WinPE settings live under, so the servicing code and
`pebuild pe-settings` have real places to read and write:
* SYSTEM: `Select\\Current` = 1; `ControlSet001\\Control\\MiniNT` (the key that
  marks a WinPE system), ComputerName, Session Manager\\Environment, Nls;
  `ControlSet001\\Services\\FBWF\\WinPECacheThreshold` (scratch space, MB, what
  `DISM /Set-ScratchSpace` writes).
* SOFTWARE: `Microsoft\\Windows NT\\CurrentVersion` and its `WinPE` subkey with
  `InstRoot` (the target path, what `DISM /Set-TargetPath` writes).
* DEFAULT: the default user's International and Environment keys.
"""

from __future__ import annotations

from pebuild.hive import Hive, RegType, serialize_hive

#: WinPE's default scratch space in MB (32; DISM accepts 32, 64, 128, 256, 512)
DEFAULT_SCRATCH_MB = 32
DEFAULT_TARGET_PATH = "X:\\"


def _system() -> Hive:
    hive = Hive.new("ROOT")
    root = hive.root
    select = root.create("Select")
    for name, value in (("Current", 1), ("Default", 1), ("Failed", 0), ("LastKnownGood", 1)):
        select.set_value(name, RegType.DWORD, value)
    control = root.create("ControlSet001\\Control")
    control.create("MiniNT")
    control.create("ComputerName\\ComputerName").set_value("ComputerName", RegType.SZ, "MININT")
    session = control.create("Session Manager")
    session.set_value("BootExecute", RegType.MULTI_SZ, ["autocheck autochk *"])
    env = session.create("Environment")
    env.set_value(
        "Path", RegType.EXPAND_SZ, "%SystemRoot%\\system32;%SystemRoot%;%SystemRoot%\\System32\\Wbem"
    )
    env.set_value("TEMP", RegType.EXPAND_SZ, "%SystemRoot%\\TEMP")
    env.set_value("TMP", RegType.EXPAND_SZ, "%SystemRoot%\\TEMP")
    env.set_value("PROCESSOR_ARCHITECTURE", RegType.SZ, "AMD64")
    language = control.create("Nls\\Language")
    language.set_value("Default", RegType.SZ, "0409")
    language.set_value("InstallLanguage", RegType.SZ, "0409")
    control.create("Windows").set_value("CSDVersion", RegType.DWORD, 0)
    fbwf = root.create("ControlSet001\\Services\\FBWF")
    fbwf.set_value("Type", RegType.DWORD, 2)
    fbwf.set_value("Start", RegType.DWORD, 0)
    fbwf.set_value("ImagePath", RegType.EXPAND_SZ, "system32\\drivers\\fbwf.sys")
    fbwf.set_value("WinPECacheThreshold", RegType.DWORD, DEFAULT_SCRATCH_MB)
    root.create("ControlSet001\\Enum")
    root.create("MountedDevices")
    return hive


def _software() -> Hive:
    hive = Hive.new("ROOT")
    current = hive.root.create("Microsoft\\Windows NT\\CurrentVersion")
    for name, value in (
        ("ProductName", "Windows PE (pebuild sample)"),
        ("EditionID", "WindowsPE"),
        ("InstallationType", "WindowsPE"),
        ("CurrentVersion", "6.3"),
        ("CurrentBuild", "26100"),
        ("CurrentBuildNumber", "26100"),
        ("SystemRoot", "X:\\windows"),
    ):
        current.set_value(name, RegType.SZ, value)
    current.set_value("CurrentMajorVersionNumber", RegType.DWORD, 10)
    current.set_value("CurrentMinorVersionNumber", RegType.DWORD, 0)
    current.create("WinPE").set_value("InstRoot", RegType.SZ, DEFAULT_TARGET_PATH)
    windows = hive.root.create("Microsoft\\Windows\\CurrentVersion")
    windows.set_value("ProgramFilesDir", RegType.SZ, "X:\\Program Files")
    windows.set_value("CommonFilesDir", RegType.SZ, "X:\\Program Files\\Common Files")
    hive.root.create("Classes")
    return hive


def _default() -> Hive:
    hive = Hive.new("ROOT")
    intl = hive.root.create("Control Panel\\International")
    intl.set_value("LocaleName", RegType.SZ, "en-US")
    intl.set_value("Locale", RegType.SZ, "00000409")
    env = hive.root.create("Environment")
    env.set_value("TEMP", RegType.EXPAND_SZ, "%USERPROFILE%\\AppData\\Local\\Temp")
    env.set_value("TMP", RegType.EXPAND_SZ, "%USERPROFILE%\\AppData\\Local\\Temp")
    hive.root.create("Console")
    return hive


def sample_hives(arch: str, timestamp: int) -> dict[str, bytes]:
    """File name under Windows/System32/config -> hive bytes (compact layout, pinned clock)."""
    system = _system()
    env = system.root.open("ControlSet001\\Control\\Session Manager\\Environment")
    assert env is not None
    arch_name = {"amd64": "AMD64", "x86": "x86", "arm64": "ARM64", "ia64": "IA64"}[arch]
    env.set_value("PROCESSOR_ARCHITECTURE", RegType.SZ, arch_name)
    return {
        "SYSTEM": serialize_hive(system, "compact", timestamp),
        "SOFTWARE": serialize_hive(_software(), "compact", timestamp),
        "DEFAULT": serialize_hive(_default(), "compact", timestamp),
    }
