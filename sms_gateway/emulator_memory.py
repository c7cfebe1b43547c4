"""The emulated modem's message memories: "SM" (the SIM), "ME" (the modem), "SR" (status reports).

Each memory has its own capacity and its own indexes starting at 1. "MT", when a modem offers it, is a
view of "SM" followed by "ME" (indexes 1..|SM| are the SIM's, the next ones the modem's), as on many
USB modems. Entries are ``(stat, PDU hex)`` with stat 0 = received unread, 1 = received read.
"""

from __future__ import annotations

Entry = tuple[int, str]


class Memories:
    """Message storage that survives power cycles (the SIM and the modem's flash)."""

    def __init__(self, capacity: dict[str, int]) -> None:
        self.capacity = dict(capacity)
        self.slots: dict[str, dict[int, Entry]] = {name: {} for name in capacity}

    def _parts(self, name: str) -> list[tuple[str, int]]:
        """(real memory, index offset) making up ``name``."""
        if name == "MT":
            return [("SM", 0), ("ME", self.capacity["SM"])]
        return [(name, 0)]

    def total(self, name: str) -> int:
        """Slots in memory ``name``."""
        return sum(self.capacity[real] for real, _ in self._parts(name))

    def used(self, name: str) -> int:
        """Occupied slots in memory ``name``."""
        return sum(len(self.slots[real]) for real, _ in self._parts(name))

    def entries(self, name: str) -> list[tuple[int, Entry]]:
        """(index, entry) of memory ``name`` in index order."""
        out: list[tuple[int, Entry]] = []
        for real, offset in self._parts(name):
            out.extend((offset + i, e) for i, e in sorted(self.slots[real].items()))
        return out

    def _resolve(self, name: str, index: int) -> tuple[str, int]:
        for real, offset in reversed(self._parts(name)):
            if index > offset:
                return real, index - offset
        return self._parts(name)[0][0], index

    def get(self, name: str, index: int) -> Entry | None:
        """The entry at ``index`` of ``name`` (None: empty)."""
        real, i = self._resolve(name, index)
        return self.slots[real].get(i)

    def put(self, name: str, index: int, entry: Entry) -> None:
        """Overwrite the entry at ``index`` (used to mark a message read)."""
        real, i = self._resolve(name, index)
        self.slots[real][i] = entry

    def delete(self, name: str, index: int) -> None:
        """Free one slot (nothing happens if it is empty)."""
        real, i = self._resolve(name, index)
        self.slots[real].pop(i, None)

    def delete_unless(self, name: str, keep: tuple[int, ...]) -> None:
        """Free every slot of ``name`` whose stat is not in ``keep`` (``AT+CMGD=,<flag>``)."""
        for real, _ in self._parts(name):
            self.slots[real] = {i: e for i, e in self.slots[real].items() if e[0] in keep}

    def store(self, name: str, pdu_hex: str) -> int | None:
        """Put a received PDU in the first free slot of ``name``; its index, or None when full."""
        for real, offset in self._parts(name):
            for i in range(1, self.capacity[real] + 1):
                if i not in self.slots[real]:
                    self.slots[real][i] = (0, pdu_hex)
                    return offset + i
        return None

    def snapshot(self) -> dict[tuple[str, int], Entry]:
        """Every stored entry by (real memory, index)."""
        return {(real, i): e for real, slots in self.slots.items() for i, e in sorted(slots.items())}
