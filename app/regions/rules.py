"""Pure rules of the catalogue: the processor architectures flavors are built on."""

from __future__ import annotations

import enum


class Arch(enum.Enum):
    """A processor architecture: flavors have one, and an image boots only on its own."""

    X86_64 = "X86_64"
    ARM64 = "ARM64"


#: how operating systems name the ARM64 architecture
ARM_NAMES = ("aarch64", "arm64")


def arch_of_os(os_arch: str) -> Arch:
    """The architecture an operating system's ``arch`` string names (x86_64 unless ARM)."""
    return Arch.ARM64 if os_arch.lower() in ARM_NAMES else Arch.X86_64
