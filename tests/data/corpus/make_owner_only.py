#!/usr/bin/env python3
"""Writes owner-only-rc4.pdf: a one-page notice encrypted with the standard security handler
(RC4, 40 bit, revision 2) and an empty user password, as a PDF "protected against printing or
copying" is: every viewer opens it without asking. tests/preview.rs expects a preview of it.
Made once with this script (python3, standard library only); the PDF is committed."""
import hashlib

PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")

def rc4(key, data):
    s = list(range(256)); j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256; s[i], s[j] = s[j], s[i]
    i = j = 0; out = bytearray()
    for b in data:
        i = (i + 1) % 256; j = (j + s[i]) % 256; s[i], s[j] = s[j], s[i]
        out.append(b ^ s[(s[i] + s[j]) % 256])
    return bytes(out)

o = hashlib.md5(b"owner").digest() * 2          # any 32 bytes: an input of the key
p = (-44).to_bytes(4, "little", signed=True)     # printing and copying not allowed
doc_id = bytes.fromhex("00112233445566778899aabbccddeeff")
key = hashlib.md5(PAD + o + p + doc_id).digest()[:5]
u = rc4(key, PAD)

def obj_key(num):
    return hashlib.md5(key + num.to_bytes(3, "little") + (0).to_bytes(2, "little")).digest()[:10]

lines = ["Avviso al pubblico", "Gli uffici resteranno chiusi lunedi 8 dicembre.",
         "Le pratiche urgenti allo sportello di via Roma 12."]
content = "BT /F1 22 Tf 72 770 Td (%s) Tj ET\n2 w 72 758 m 523 758 l S\n" % lines[0]
y = 720
for line in lines[1:]:
    content += "BT /F1 12 Tf 72 %d Td (%s) Tj ET\n" % (y, line); y -= 18
content = rc4(obj_key(4), content.encode())

objects = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
    b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    b"<< /Filter /Standard /V 1 /R 2 /O <" + o.hex().encode() + b"> /U <" + u.hex().encode() + b"> /P -44 >>",
]
out = bytearray(b"%PDF-1.4\n")
offsets = []
for n, body in enumerate(objects, 1):
    offsets.append(len(out)); out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
xref = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
for off in offsets:
    out += b"%010d 00000 n \n" % off
out += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 6 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
    len(objects) + 1, doc_id.hex().encode(), doc_id.hex().encode(), xref)
open("owner-only-rc4.pdf", "wb").write(out)
