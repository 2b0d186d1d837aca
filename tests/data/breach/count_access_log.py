#!/usr/bin/env python3
"""Counts, per tenant, the access-log lines of a reference platform and the distinct client
addresses in them ($remote_addr and every hop of $http_x_forwarded_for), reading the files as
nginx wrote them (rotated ones gzipped). An independent count for gdprctl's breach assessment:
it shares no code with gdprctl.

    count_access_log.py PLATFORM_DIR [TENANT ...]     -> {"acme": {"lines": N, "addresses": M}, ...}
"""
import glob
import gzip
import ipaddress
import json
import re
import sys

REQUEST = re.compile(r"^[A-Z]+ /hls/([^/]+)/")


def count(platform_dir, wanted):
    lines, addresses = {}, {}
    for name in glob.glob(platform_dir + "/logs/access.log*"):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(name, "rt", errors="replace") as f:
            for line in f:
                parts = line.split('"')
                if len(parts) < 8:
                    continue
                match = REQUEST.match(parts[1])
                if not match or (wanted and match.group(1) not in wanted):
                    continue
                tenant = match.group(1)
                lines[tenant] = lines.get(tenant, 0) + 1
                seen = addresses.setdefault(tenant, set())
                for text in [parts[0].split(" ")[0]] + parts[7].split(","):
                    try:
                        seen.add(str(ipaddress.ip_address(text.strip())))
                    except ValueError:
                        pass
    return {t: {"lines": lines[t], "addresses": len(addresses[t])} for t in lines}


if __name__ == "__main__":
    print(json.dumps(count(sys.argv[1], set(sys.argv[2:]))))
