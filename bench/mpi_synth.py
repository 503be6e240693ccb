#!/usr/bin/env python3
"""Synthetic DHIS2-like records for `kadi mpi eval` at scale (no address, no national ID).

Usage: python3 bench/mpi_synth.py N OUT_DIR [SEED]
Writes OUT_DIR/synth_N.csv (id + card fields) and OUT_DIR/synth_N_truth.csv (id_a,id_b).
About 10% of records are duplicates of another (typos, swapped day/month, local phone format,
missing fields); skew on purpose: few family names, one big health center, many 1 January dates.
"""
import csv, random, sys, os, itertools

n = int(sys.argv[1]); out = sys.argv[2]; rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 7)
FIRST_F = "Aminata Fatou Awa Khady Mariama Aissatou Ndeye Coumba Rokhaya Seynabou Astou Binta Dieynaba Adama Marieme Oumou Yacine Sokhna Fama Ramatoulaye".split()
FIRST_M = "Mamadou Moussa Ibrahima Ousmane Abdoulaye Cheikh Modou Alioune Babacar Lamine Pape Souleymane Amadou Omar Malick Serigne Idrissa Assane Mbaye Demba".split()
LAST = "Diallo Ndiaye Sow Ba Fall Diop Faye Gueye Sarr Cisse Mbaye Thiam Ka Niang Toure Kane Seck Diouf Camara Sy Ndour Sene Dieng Badji Mendy Sagna Coly Tall Wade Lo".split()
HC = ["Pikine"] * 6 + "Guediawaye Rufisque Thiaroye Yeumbeul Keur_Massar Mbao Bargny Sebikotane Diamniadio".split()
def typo(s):
    if len(s) < 3: return s
    i = rnd.randrange(len(s) - 1); k = rnd.random()
    if k < 0.4: return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if k < 0.7: return s[:i] + s[i + 1:]
    return s[:i] + rnd.choice("aeioulnrst") + s[i + 1:]
rows = []; truth = []
base = int(n * 0.9)
for i in range(base):
    sex = rnd.choice("MF")
    y = rnd.randint(1940, 2024)
    m, d = (1, 1) if rnd.random() < 0.15 else (rnd.randint(1, 12), rnd.randint(1, 28))
    rows.append({"id": f"r{i:07d}", "first_name": rnd.choice(FIRST_F if sex == "F" else FIRST_M), "last_name": rnd.choice(LAST),
                 "date_of_birth": f"{y:04d}-{m:02d}-{d:02d}", "gender": sex, "phone_number": f"+22177{rnd.randrange(10**7):07d}" if rnd.random() < 0.8 else "",
                 "health_center": rnd.choice(HC), "zone": "Dakar"})
    # Give names some spread beyond the short lists: compound first names.
    if rnd.random() < 0.5: rows[-1]["first_name"] += " " + rnd.choice(FIRST_F if sex == "F" else FIRST_M)
for j in range(n - base):
    src = rows[rnd.randrange(base)]; r = dict(src); r["id"] = f"d{j:07d}"
    for _ in range(rnd.randint(1, 2)):
        k = rnd.random()
        if k < 0.3: r["first_name"] = typo(r["first_name"])
        elif k < 0.5: r["last_name"] = typo(r["last_name"])
        elif k < 0.6 and r["date_of_birth"][8:] <= "12": y, m, d = r["date_of_birth"].split("-"); r["date_of_birth"] = f"{y}-{d}-{m}"
        elif k < 0.7 and r["phone_number"]: r["phone_number"] = r["phone_number"][4:]
        elif k < 0.8: r["phone_number"] = ""
        else: r["health_center"] = rnd.choice(HC)
    rows.append(r); truth.append((src["id"], r["id"]))
# Every pair inside an entity is a true pair.
ent = {}
for a, b in truth: ent.setdefault(a, [a]).append(b)
os.makedirs(out, exist_ok=True)
with open(f"{out}/synth_{n}.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys())); w.writeheader(); w.writerows(rows)
with open(f"{out}/synth_{n}_truth.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["id_a", "id_b"])
    for members in ent.values():
        for a, b in itertools.combinations(sorted(members), 2): w.writerow([a, b])
