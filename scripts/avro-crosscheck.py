# Cross-checks the Swift Avro resolution table against Apache Avro's Python compatibility checker.
# Usage: SKEIN_DUMP_AVRO_CASES=/tmp/cases.jsonl swift test --filter dumpResolutionTableForCrossCheck
#        python3 scripts/avro-crosscheck.py /tmp/cases.jsonl        (needs: pip install avro)
import json, sys
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

bad = 0
for line in open(sys.argv[1]):
    c = json.loads(line)
    r = avro.schema.parse(c["reader"]); w = avro.schema.parse(c["writer"])
    res = ReaderWriterCompatibilityChecker().get_compatibility(r, w)
    got = sorted(i.name.upper() for i in res.incompatibilities) if res.compatibility == SchemaCompatibilityType.incompatible else []
    want = sorted(c["expected"])
    if got != want:
        bad += 1
        print("DIFF", c["label"], "swift:", want, "apache:", got, [str(l) for l in res.locations] if got else "")
    elif c.get("location") and got:
        locs = [str(l) for l in res.locations]
        if c["location"] not in locs:
            bad += 1
            print("LOCATION", c["label"], "swift:", c["location"], "apache:", locs)
print("cases:", sum(1 for _ in open(sys.argv[1])), "differences:", bad)
