#!/usr/bin/env python3
"""Writes the seeds of the tls13_records fuzz target (tests/fuzz/corpus/tls13_records/): scripts
in the byte layout of libFuzzer's FuzzedDataProvider, which takes integers from the end of the
input and byte strings from its front. Run it again after changing the target's script."""

import os
import sys

SUITE_AES128, SUITE_AES256, SUITE_CHACHA = 0, 1, 2


class Script:
    def __init__(self, suite, owe_key_update=False, split_first=False, sequences=(0, 0)):
        self.front = bytearray()
        self.back = []  # in the order the target consumes them
        self.integer(suite, 0, 2)
        self.integer(int(owe_key_update), 0, 255)
        self.integer(int(split_first), 0, 255)
        for s in sequences:
            self.integer(s, 0, 0xFFFF)

    def integer(self, value, low, high):
        span, offset, chunks = high - low, 0, []
        while offset < 64 and (span >> offset) > 0:
            chunks.append(offset)
            offset += 8
        value -= low
        for i in range(len(chunks)):
            self.back.append((value >> (8 * (len(chunks) - 1 - i))) & 0xFF)

    def content(self, size, data=b""):
        take = min(size, 64)
        self.front += (data + bytes(range(take)))[:take]

    def data(self, size, pad=0, text=b""):
        self.integer(0, 0, 9)
        self.integer(0, 0, 6)
        self.integer(size, 0, 16384)
        self.content(size, text)
        self.integer(pad, 0, 3)
        return self

    def key_update(self, requested):
        self.integer(0, 0, 9)
        self.integer(1, 0, 6)
        self.integer(requested, 0, 2)
        return self

    def alert(self, level, which):  # which: index in {0, 90, 20, 40, 80}
        self.integer(0, 0, 9)
        self.integer(2, 0, 6)
        self.integer(level, 1, 2)
        self.integer(which, 0, 4)
        return self

    def inner(self, size, type_, pad, text=b""):
        self.integer(0, 0, 9)
        self.integer(3, 0, 6)
        self.integer(size, 0, 16700)
        self.content(size, text)
        self.integer(type_, 0, 255)
        self.integer(pad, 0, 300)
        return self

    def flipped(self, size, bit):
        self.integer(0, 0, 9)
        self.integer(4, 0, 6)
        self.integer(size, 0, 100)
        self.content(size)
        self.integer(0, 0, 255)  # ConsumeBool: false, a bit flipped
        self.integer(bit, 0, (size + 1 + 21) * 8 - 1)
        return self

    def outer(self, size, type_):
        self.integer(0, 0, 9)
        self.integer(4, 0, 6)
        self.integer(size, 0, 100)
        self.content(size)
        self.integer(1, 0, 255)
        self.integer(type_, 0, 255)
        return self

    def raw(self, data):
        self.integer(0, 0, 9)
        self.integer(5, 0, 6)
        self.integer(len(data), 1, 64)
        self.front += data
        return self

    def chunk(self, size):
        self.integer(7, 0, 9)
        self.integer(size, 1, 1 << 15)
        return self

    def read_size(self, size):
        self.integer(8, 0, 9)
        self.integer(size, 1, 1 << 16)
        return self

    def server_writes(self, size):
        self.integer(9, 0, 9)
        self.integer(size, 1, 20000)
        self.content(size)
        return self

    def bytes(self):
        return bytes(self.front) + bytes(reversed(self.back))


SEEDS = {
    "data": Script(SUITE_AES128).data(5, text=b"hello").data(300).data(16384),
    "data-chacha-padded": Script(SUITE_CHACHA, sequences=(7, 9)).data(40, pad=2).data(0),
    "data-aes256-small-reads": Script(SUITE_AES256).read_size(7).chunk(3).data(100).data(2000),
    "key-update": Script(SUITE_AES128).data(10).key_update(1).data(10).key_update(0).data(10),
    "key-update-owed": Script(SUITE_AES256, owe_key_update=True).data(20).server_writes(100),
    "key-update-bad": Script(SUITE_CHACHA).key_update(2),
    "close-notify": Script(SUITE_AES128).data(10).alert(1, 0).data(10),
    "user-canceled": Script(SUITE_AES128).alert(1, 1).data(10).alert(1, 0),
    "fatal-alert": Script(SUITE_CHACHA).data(10).alert(2, 2),
    "alert-too-long": Script(SUITE_AES128).inner(3, 21, 0, b"\x01\x00\x00"),
    "inner-types": Script(SUITE_AES128).inner(10, 23, 50).inner(4, 0, 0, b"hi\x17\x00"),
    "inner-unknown-type": Script(SUITE_AES256).inner(10, 20, 0),
    "inner-zeros": Script(SUITE_AES128).inner(0, 0, 30),
    "handshake-not-key-update": Script(SUITE_AES128).inner(8, 22, 0, b"\x04\x00\x00\x04abcd"),
    "plaintext-overflow": Script(SUITE_AES128).inner(16385, 23, 0),
    "ciphertext-overflow": Script(SUITE_CHACHA).inner(16600, 23, 100),
    "bad-mac": Script(SUITE_AES128).data(10).flipped(20, 200),
    "bad-mac-header": Script(SUITE_AES256).flipped(5, 9),
    "bad-outer-type": Script(SUITE_AES128).outer(10, 22),
    "change-cipher-spec": Script(SUITE_CHACHA).raw(b"\x14\x03\x03\x00\x01\x01").data(5),
    "raw-length": Script(SUITE_AES128).raw(b"\x17\x03\x03\x41\x00").data(5),
    "split-first": Script(SUITE_AES128, split_first=True).data(3).data(10),
    "server-writes": Script(SUITE_CHACHA).server_writes(17000).key_update(1).server_writes(10),
}

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "tls13_records")
    os.makedirs(out, exist_ok=True)
    for name, script in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(script.bytes())
