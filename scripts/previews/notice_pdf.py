lines = [
 ("F2", 28, 60, 760, "COMUNE DI ESEMPIO"),
 ("F1", 14, 60, 735, "Ufficio Tributi"),
 ("F2", 22, 60, 680, "AVVISO TARI 2026"),
 ("F1", 12, 60, 650, "Si informa la cittadinanza che la prima rata della tassa sui rifiuti"),
 ("F1", 12, 60, 634, "(TARI) per l'anno 2026 scade il 16 dicembre 2026."),
 ("F1", 12, 60, 604, "Il pagamento si effettua con il modello F24 allegato, presso"),
 ("F1", 12, 60, 588, "qualsiasi banca, ufficio postale o con l'home banking."),
 ("F1", 12, 60, 558, "Per informazioni: Ufficio Tributi, piano terra del Municipio,"),
 ("F1", 12, 60, 542, "dal lunedi al venerdi dalle 9 alle 12."),
 ("F1", 12, 360, 460, "Il Responsabile del Servizio"),
 ("F1", 12, 380, 444, "dott.ssa Maria Rossi"),
]
content = "0.1 0.3 0.6 rg 40 790 515 8 re f\n0 0 0 rg\n"
for f,s,x,y,t in lines:
    content += f"BT /{f} {s} Tf {x} {y} Td ({t}) Tj ET\n"
content += "0.8 0.8 0.8 RG 1 w 60 500 m 535 500 l S\n"
objs = [
 "<< /Type /Catalog /Pages 2 0 R >>",
 "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
 "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> >>",
 f"<< /Length {len(content)} >>\nstream\n{content}endstream",
 "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
 "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>",
]
out = bytearray(b"%PDF-1.4\n"); offs=[]
for i,o in enumerate(objs):
    offs.append(len(out)); out += f"{i+1} 0 obj\n{o}\nendobj\n".encode()
x=len(out)
out += f"xref\n0 {len(objs)+1}\n0000000000 65535 f \n".encode()
for o in offs: out += f"{o:010} 00000 n \n".encode()
out += f"trailer\n<< /Size {len(objs)+1} /Root 1 0 R >>\nstartxref\n{x}\n%%EOF\n".encode()
open("avviso-tari.pdf","wb").write(out)
