#!/usr/bin/env python3
# cluster-scripts/status-query.py: answers one question about a cluster from `boxctl --json status` on stdin (the cluster scripts' shared reading of the status).
"""Usage: boxctl --json status | status-query.py QUESTION [NODE] [LAG_MAX]

Questions (exit 0 = yes; a reason is printed on "no", exit 1):
  ids          prints the node ids in the cluster map
  healthy      every node answers and every group has a leader
  leads N      prints how many groups node N leads (-1 if it is not in the map)
  caught-up N  node N answers, every group has a leader and N lags no leader by more than LAG_MAX
  in-map N     node N is in the cluster map
  gone N       node N is not in the cluster map
  settled      no replica move under way, and replica counts per node differ by at most one
  events-settled  no event is moving to a group of its own
"""
import json
import sys


def main() -> int:
    question = sys.argv[1]
    node = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    lag_max = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    status = json.load(sys.stdin)
    nodes = {n["node_id"]: n for n in status["nodes"]}
    groups = status["groups"]
    data = [g for g in groups if g["group"] != 0]
    leaderless = [g["group"] for g in groups if g["leader_id"] is None]

    def no(reason: str) -> int:
        print(reason)
        return 1

    if question == "ids":
        print(" ".join(str(i) for i in sorted(nodes)))
    elif question == "healthy":
        down = [i for i, n in nodes.items() if not n["reachable"]]
        if down or leaderless:
            return no(f"nodes not answering: {down}; groups without a leader: {leaderless}")
    elif question == "leads":
        print(nodes[node]["leads"] if node in nodes else -1)
    elif question == "caught-up":
        if not nodes.get(node, {}).get("reachable") or leaderless:
            return no(f"node {node} answers: {nodes.get(node, {}).get('reachable')}; "
                      f"groups without a leader: {leaderless}")
        for g in groups:
            if node not in g["replicas"] or g["leader_id"] == node:
                continue
            lag = [r["lag_entries"] for r in g["replica_progress"] if r["node_id"] == node]
            if not lag or lag[0] > lag_max:
                return no(f"group {g['group']}: node {node} lags by {lag[0] if lag else 'unknown'} entries")
    elif question == "in-map":
        if node not in nodes:
            return no(f"node {node} is not in the cluster map")
    elif question == "gone":
        if node in nodes:
            return no(f"node {node} is still in the cluster map")
    elif question == "settled":
        moving = [g["group"] for g in data if g.get("moving")]
        counts = {i: 0 for i, n in nodes.items() if not n.get("removing")}
        for g in data:
            for replica in g["replicas"]:
                if replica in counts:
                    counts[replica] += 1
        removing = [i for i, n in nodes.items() if n.get("removing")]
        if moving or removing or (counts and max(counts.values()) > min(counts.values()) + 1):
            return no(f"replicas per node {counts}; moving in groups {moving}; removing {removing}")
    elif question == "events-settled":
        moving = [e["event_id"] for e in status["events"] if e.get("moving_to") is not None]
        if moving:
            return no(f"events moving to a group of their own: {moving}")
    else:
        print(f"unknown question {question!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
