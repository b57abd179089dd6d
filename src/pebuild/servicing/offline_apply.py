"""Carry out an OfflinePlan on a ServicedImage, and undo it (`pebuild driver add/remove --offline`).

Files go to System32\\drivers and the driver store, registry edits to the SYSTEM (and DRIVERS)
hive, all in the image's one commit. Nothing pebuild did not write is overwritten: a driver file
or service that already exists with other content is an error naming it (an inbox driver of the
same name). Removal deletes what the stored INF says was installed, only where it still matches.
"""

from __future__ import annotations

import re

from pebuild.clock import build_time
from pebuild.hive.log import LOG_SUFFIXES
from pebuild.servicing.drivers import DriverPackage
from pebuild.servicing.image import ServicedImage
from pebuild.servicing.offline import DRIVERS_DIR, REPOSITORY, OfflineError, OfflinePlan, plan_offline
from pebuild.servicing.registry import HiveFiles, RegistryEditor, resolve_key

INF_DIR = "Windows/INF"
DRIVER_DB = "HKLM\\DRIVERS\\DriverDatabase"


def install_offline(image: ServicedImage, pkg: DriverPackage) -> tuple[str, list[str], bool]:
    """(published name oem<N>.inf, notes, changed); changed is False when it is installed already."""
    plan = plan_offline(pkg)
    store = f"{REPOSITORY}/{plan.store_name}"
    inf_bytes = pkg.inf_path.read_bytes()
    published = _published_as(image, plan.store_name)
    if published is not None:
        return published, [], False
    editor, logs = _editor(image)
    _files(image, plan)
    _services(editor, plan)
    for reg in plan.registry:
        _set(editor, reg)
    published = _free_oem(image)
    for rel in pkg.files:
        image.add(f"{store}/{rel}", pkg.inf_path.parent / rel)
    image.add(f"{INF_DIR}/{published}", inf_bytes)
    if image.read("Windows/System32/config/DRIVERS") is not None:
        _driver_database(editor, plan, published)
    _write_hives(image, editor, logs)
    return published, [f"services: {', '.join(s.name for s in plan.services)}", *plan.deferred], True


def _files(image: ServicedImage, plan: OfflinePlan) -> None:
    for dest, rel in sorted(plan.copies.items()):
        data = (plan.package.inf_path.parent / rel).read_bytes()
        target = f"{DRIVERS_DIR}/{dest}"
        existing = image.read(target)
        if existing is not None and existing != data:
            raise OfflineError(
                f"{plan.package.inf_path}: {target} already exists with other content "
                "(an inbox driver of that name?); pebuild does not overwrite it"
            )
        image.add(target, data)


def _services(editor: RegistryEditor, plan: OfflinePlan) -> None:
    for service in plan.services:
        key = service.values[0].key
        current = editor.get_value(key, "ImagePath")
        ours = service.values[0].data
        if current is not None and bytes(current.data) != ours:
            raise OfflineError(
                f"{plan.package.inf_path}: service {service.name} already exists in the image with another "
                "ImagePath; pebuild does not replace it"
            )
        for reg in service.values:
            _set(editor, reg)


def _set(editor: RegistryEditor, reg: object) -> None:
    from pebuild.servicing.offline import RegEntry

    assert isinstance(reg, RegEntry)
    if reg.type is None:
        editor.create_key(reg.key)
        return
    if reg.noclobber and editor.get_value(reg.key, reg.name) is not None:
        return
    editor.set_value(reg.key, reg.name, reg.type, reg.data)


def _driver_database(editor: RegistryEditor, plan: OfflinePlan, published: str) -> None:
    """The DRIVERS hive records of Windows 8+ driver stores (DriverInfFiles, DriverPackages, DeviceIds)."""
    from pebuild.servicing import regfile

    pkg_id = plan.store_name
    inf_key = f"{DRIVER_DB}\\DriverInfFiles\\{published}"
    editor.set_value(inf_key, "", regfile.REG_MULTI_SZ, regfile.multi_sz_bytes([pkg_id]))
    editor.set_value(inf_key, "Active", regfile.REG_SZ, regfile.sz_bytes(pkg_id))
    pkg_key = f"{DRIVER_DB}\\DriverPackages\\{pkg_id}"
    editor.set_value(pkg_key, "", regfile.REG_SZ, regfile.sz_bytes(published))
    editor.set_value(pkg_key, "Provider", regfile.REG_SZ, regfile.sz_bytes(plan.package.provider))
    editor.set_value(pkg_key, "Version", regfile.REG_SZ, regfile.sz_bytes(plan.package.driver_ver))
    for hw in sorted(set(plan.hardware_ids)):
        editor.set_value(f"{DRIVER_DB}\\DeviceIds\\{hw}", published, regfile.REG_BINARY, b"\x01\xff\x00\x00")


def _free_oem(image: ServicedImage) -> str:
    used = {n.lower() for n in image.children(INF_DIR)}
    n = 0
    while f"oem{n}.inf" in used:
        n += 1
    return f"oem{n}.inf"


def _published_as(image: ServicedImage, store_name: str) -> str | None:
    """oem<N>.inf of an installed package with this store folder, else None."""
    if store_name.lower() not in {n.lower() for n in image.children(REPOSITORY)}:
        return None
    stored = image.read(f"{REPOSITORY}/{store_name}/{_inf_of(store_name)}")
    for name in image.children(INF_DIR):
        if re.fullmatch(r"oem\d+\.inf", name, re.IGNORECASE) and image.read(f"{INF_DIR}/{name}") == stored:
            return name
    return None


def original_names(image: ServicedImage) -> dict[str, str]:
    """oem<N>.inf (lower case) -> the original INF name, from the driver store folders."""
    out: dict[str, str] = {}
    stores = {}
    for folder in image.children(REPOSITORY):
        stores[folder] = image.read(f"{REPOSITORY}/{folder}/{_inf_of(folder)}")
    for name in image.children(INF_DIR):
        if re.fullmatch(r"oem\d+\.inf", name, re.IGNORECASE):
            data = image.read(f"{INF_DIR}/{name}")
            for folder, stored in stores.items():
                if stored is not None and stored == data:
                    out[name.lower()] = _inf_of(folder)
    return out


def uninstall_offline(image: ServicedImage, published: str) -> list[str]:
    """Undo install_offline for oem<N>.inf: store folder, published INF, files and keys that still match."""
    data = image.read(f"{INF_DIR}/{published}")
    if data is None:
        raise OfflineError(f"{published} is not in {image.describe()}")
    folders = [f for f in image.children(REPOSITORY) if image.read(f"{REPOSITORY}/{f}/{_inf_of(f)}") == data]
    editor, logs = _editor(image)
    notes = []
    for folder in folders[:1]:
        store = f"{REPOSITORY}/{folder}"
        plan = _plan_from_store(image, store, _inf_of(folder), folder.rsplit("_", 2)[1])
        for dest, rel in sorted(plan.copies.items()):
            target = f"{DRIVERS_DIR}/{dest}"
            if image.read(target) == image.read(f"{store}/{rel}"):
                image.delete(target)
        for service in plan.services:
            editor.delete_key(service.values[0].key)
        if _has_drivers_hive(image):
            editor.delete_key(f"{DRIVER_DB}\\DriverInfFiles\\{published}")
            editor.delete_key(f"{DRIVER_DB}\\DriverPackages\\{folder}")
            for hw in sorted(set(plan.hardware_ids)):
                editor.delete_value(f"{DRIVER_DB}\\DeviceIds\\{hw}", published)
        image.delete(store)
        notes.append(f"removed {store}, services {', '.join(s.name for s in plan.services)}")
    image.delete(f"{INF_DIR}/{published}")
    _write_hives(image, editor, logs)
    return notes


def _editor(image: ServicedImage) -> tuple[RegistryEditor, dict[str, dict[str, str]]]:
    """A RegistryEditor on the image's hives that hands it the transaction logs beside each hive
    (SYSTEM.LOG1/.LOG2/.LOG), so a hive Windows left dirty is replayed as for `pebuild reg`
    (docs/servicing.md), not refused as if it had no logs; also {hive: {log name: image path}}."""
    logs: dict[str, dict[str, str]] = {}

    def load(image_path: str) -> HiveFiles | None:
        data = image.read(image_path)
        if data is None:
            return None
        found: dict[str, bytes] = {}
        logs[image_path] = {}
        for suffix in LOG_SUFFIXES:
            log = image.read(image_path + suffix)
            if log is not None:
                real = image.real_path(image_path + suffix)
                found[real.rsplit("/", 1)[-1]] = log
                logs[image_path][real.rsplit("/", 1)[-1]] = real
        return HiveFiles(data, found)

    return RegistryEditor(load), logs


def _write_hives(image: ServicedImage, editor: RegistryEditor, logs: dict[str, dict[str, str]]) -> None:
    """Queue the changed hives; their logs become empty files (the new hive is clean and holds
    their data: Windows must not replay stale pages over it)."""
    for hive, blob in editor.serialized(timestamp=build_time()).items():
        image.add(image.real_path(hive), blob)
        for name in editor.logs_to_clear(hive):
            image.add(logs[hive][name], b"")


def _inf_of(store_folder: str) -> str:
    """'rtnet.inf_amd64_0123456789abcdef' -> 'rtnet.inf'."""
    return store_folder.rsplit("_", 2)[0]


def _has_drivers_hive(image: ServicedImage) -> bool:
    return image.read(resolve_key(f"{DRIVER_DB}")[0]) is not None


def _store_files(image: ServicedImage, store: str, rel: str = "") -> list[str]:
    out = []
    for name in image.children(f"{store}/{rel}".rstrip("/")):
        sub = f"{rel}/{name}".strip("/")
        nested = _store_files(image, store, sub)
        out += nested if nested or image.read(f"{store}/{sub}") is None else [sub]
    return sorted(out)


def _plan_from_store(image: ServicedImage, store: str, inf_name: str, arch: str) -> OfflinePlan:
    """Re-read the stored package (extracted to a temp folder) to know what it installed."""
    import tempfile
    from pathlib import Path

    from pebuild.servicing.drivers import validate_driver

    with tempfile.TemporaryDirectory(prefix="pebuild-drvrm-") as tmp:
        for rel in _store_files(image, store):
            target = Path(tmp) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(image.read(f"{store}/{rel}") or b"")
        inf = next(p for p in Path(tmp).iterdir() if p.name.lower() == inf_name.lower())
        return plan_offline(validate_driver(inf, arch, force_unsigned=True))
