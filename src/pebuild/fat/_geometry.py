"""FAT geometry: which FAT type, cluster size, FAT size and reserved area for a volume size.

Sources: Microsoft "FAT32 File System Specification" (fatgen103): the FAT type is
decided by the cluster count alone (< 4085 FAT12, < 65525 FAT16, else FAT32),
and the default cluster sizes of Windows' format (the DskTableFAT16/FAT32 tables).
formats.md §4.3 for the efisys.bin floppy (2880 sectors, media 0xF0, 224 root entries).
"""

from __future__ import annotations

from dataclasses import dataclass

from pebuild.errors import UsageError

SECTOR = 512
FAT12_MAX_CLUSTERS = 4084
FAT16_MAX_CLUSTERS = 65524
FAT32_MAX_CLUSTERS = 0x0FFFFFF5 - 2
FLOPPY_SECTORS = 2880
MIB = 1 << 20


@dataclass(frozen=True)
class FatGeometry:
    """The BPB numbers of one volume; everything else is derived from them."""

    fat_type: int
    total_sectors: int
    sectors_per_cluster: int
    reserved_sectors: int
    num_fats: int
    root_entries: int
    fat_sectors: int
    media: int
    sectors_per_track: int
    heads: int
    hidden_sectors: int
    drive_number: int

    @property
    def cluster_bytes(self) -> int:
        return self.sectors_per_cluster * SECTOR

    @property
    def root_dir_sectors(self) -> int:
        return (self.root_entries * 32 + SECTOR - 1) // SECTOR

    @property
    def first_root_sector(self) -> int:
        return self.reserved_sectors + self.num_fats * self.fat_sectors

    @property
    def first_data_sector(self) -> int:
        return self.first_root_sector + self.root_dir_sectors

    @property
    def cluster_count(self) -> int:
        return (self.total_sectors - self.first_data_sector) // self.sectors_per_cluster

    def cluster_offset(self, cluster: int) -> int:
        """Byte offset of a data cluster from the volume start."""
        return (self.first_data_sector + (cluster - 2) * self.sectors_per_cluster) * SECTOR


def default_fat_type(size: int) -> int:
    if size < 16 * MIB:
        return 12
    if size < 512 * MIB:
        return 16
    return 32


def default_cluster_sectors(fat_type: int, size: int) -> int:
    """Windows format's default cluster size for this volume size (fatgen103 tables)."""
    if fat_type == 12:
        return 1
    if fat_type == 16:
        for limit, spc in (
            (128 * MIB, 4),
            (256 * MIB, 8),
            (512 * MIB, 16),
            (1024 * MIB, 32),
            (2048 * MIB, 64),
        ):
            if size <= limit:
                return spc
        return 128
    for limit, spc in ((260 * MIB, 1), (8192 * MIB, 8), (16384 * MIB, 16), (32768 * MIB, 32)):
        if size <= limit:
            return spc
    return 64


def _fat_sectors(fat_type: int, total: int, reserved: int, root_sectors: int, spc: int, num_fats: int) -> int:
    fat_sectors = 1
    while True:
        data = total - reserved - root_sectors - num_fats * fat_sectors
        clusters = max(data // spc, 0)
        need = ((clusters + 2) * fat_type + 7) // 8
        need = (need + SECTOR - 1) // SECTOR
        if need <= fat_sectors:
            return fat_sectors
        fat_sectors = need


def _type_ok(fat_type: int, clusters: int) -> bool:
    if fat_type == 12:
        return 1 <= clusters <= FAT12_MAX_CLUSTERS
    if fat_type == 16:
        return FAT12_MAX_CLUSTERS < clusters <= FAT16_MAX_CLUSTERS
    return FAT16_MAX_CLUSTERS < clusters <= FAT32_MAX_CLUSTERS


def choose_geometry(
    size: int,
    fat_type: int | None = None,
    *,
    hidden_sectors: int = 0,
    cluster_size: int | None = None,
    num_fats: int = 2,
) -> FatGeometry:
    """Pick a valid geometry, adjusting the cluster size until the cluster count fits the FAT type."""
    if size <= 0 or size % SECTOR:
        raise UsageError(f"FAT volume size must be a positive multiple of 512 bytes, got {size}")
    if fat_type not in (None, 12, 16, 32):
        raise UsageError(f"FAT type must be 12, 16 or 32, got {fat_type}")
    ftype = fat_type or default_fat_type(size)
    total = size // SECTOR
    floppy = total == FLOPPY_SECTORS and ftype == 12
    root_entries = 0 if ftype == 32 else (224 if total <= 2 * FLOPPY_SECTORS else 512)
    reserved = 32 if ftype == 32 else 1
    root_sectors = (root_entries * 32 + SECTOR - 1) // SECTOR
    if cluster_size is not None:
        if cluster_size % SECTOR or cluster_size & (cluster_size - 1) or cluster_size > 65536:
            raise UsageError(f"cluster size must be a power of two from 512 to 65536, got {cluster_size}")
        candidates = [cluster_size // SECTOR]
    else:
        start = default_cluster_sectors(ftype, size)
        # the default first, then smaller, then larger clusters, until the count fits the type
        smaller = [start >> i for i in range(1, 8) if start >> i >= 1]
        larger = [start << i for i in range(1, 8) if start << i <= 128]
        candidates = [start, *smaller, *larger]
    for spc in candidates:
        fat_sectors = _fat_sectors(ftype, total, reserved, root_sectors, spc, num_fats)
        res = reserved
        if ftype == 32:
            # start the data area on a cluster boundary (flash erase blocks, 4K-sector disks)
            res += (-(res + num_fats * fat_sectors)) % spc
        data = total - res - root_sectors - num_fats * fat_sectors
        clusters = data // spc if data > 0 else 0
        if _type_ok(ftype, clusters):
            return FatGeometry(
                fat_type=ftype,
                total_sectors=total,
                sectors_per_cluster=spc,
                reserved_sectors=res,
                num_fats=num_fats,
                root_entries=root_entries,
                fat_sectors=fat_sectors,
                media=0xF0 if floppy else 0xF8,
                sectors_per_track=18 if floppy else 63,
                heads=2 if floppy else 255,
                hidden_sectors=hidden_sectors,
                drive_number=0x00 if floppy else 0x80,
            )
    hint = {12: "at most about 16 MiB", 16: "between about 2 MiB and 4 GiB", 32: "at least 33 MiB"}[ftype]
    raise UsageError(
        f"a {size}-byte volume cannot hold a valid FAT{ftype} file system (FAT{ftype} needs {hint})"
    )
