"""Keep a seeded, stratified random sample of the mutants of a cosmic-ray session.

The numeric core has about 2,150 mutants and one test run takes 10-20 s on a loaded
2-core machine, so a full session takes hours.  This keeps ``per_module`` mutants of
each module (chosen with ``random.Random(seed)``) and drops the rest from the session
database, before ``cosmic-ray exec``.

Usage: python benchmarks/mutation_sample.py SESSION.sqlite [per_module] [seed]
"""

import random
import sqlite3
import sys


def main(path, per_module=60, seed=26):
    db = sqlite3.connect(path)
    rows = db.execute(
        "select job_id, module_path from mutation_specs "
        "order by module_path, start_pos_row, start_pos_col, operator_name, occurrence"
    ).fetchall()
    rnd = random.Random(seed)
    keep = set()
    for module in sorted({m for _, m in rows}):
        ids = [j for j, m in rows if m == module]
        keep.update(rnd.sample(ids, min(per_module, len(ids))))
    drop = [(j,) for j, _ in rows if j not in keep]
    db.executemany("delete from mutation_specs where job_id = ?", drop)
    db.executemany("delete from work_items where job_id = ?", drop)
    db.commit()
    print(f"kept {len(keep)} of {len(rows)} mutants")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
