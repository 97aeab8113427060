"""Paper eq. 2/3 and the baselines, computed in PyTorch (float64) from a fixture's expected
attention: the independent reference that test/integration/families.test.ts holds `analyze`
to. The attention is PyTorch's own (NAME.expected.json, written by scripts/fixtures/), each
example alone; every stack is [layer][head][queries][keys] per example.

- headPairs[l][h][l'][h'] = mean over examples of 1 - (1/n_q) sum_p TV(A[p], A'[p]) (eq. 2);
- c[l][h][l'] = max over h' of headPairs (mean before max, eq. 3); layerPairs = max over h of c;
- uniform[l][h]: mean similarity to the uniform distribution over the keys each row sees (a
  causal row, whose keys are the past ones then its own, sees keys - queries + p + 1);
- entropy[l][h]: mean row entropy in nats; entropyNormalized: each row's entropy over
  ln(keys it sees), a row that sees one key counting 1.

usage: familySimilarity.py NAME.expected.json OUT.json
"""
import json
import sys

import torch


def stack_views(examples, causal):
    L, H = len(examples[0]), len(examples[0][0])
    pairs = torch.zeros(L * H, L * H, dtype=torch.float64)
    uniform = torch.zeros(L * H, dtype=torch.float64)
    entropy = torch.zeros(L * H, dtype=torch.float64)
    normalized = torch.zeros(L * H, dtype=torch.float64)
    for example in examples:
        t = torch.tensor(example, dtype=torch.float64)  # [L, H, q, k]
        q, k = t.shape[2], t.shape[3]
        a = t.reshape(L * H, q, k)
        rows = a.transpose(0, 1)  # [q, N, k]: one query row of every head
        pairs += 1.0 - 0.5 * torch.cdist(rows, rows, p=1).mean(dim=0)
        seen = torch.tensor([k - q + p + 1 if causal else k for p in range(q)], dtype=torch.float64)  # [q]
        reference = (torch.arange(k)[None, :] < seen[:, None]).to(torch.float64) / seen[:, None]  # [q, k]
        uniform += 1.0 - 0.5 * (a - reference[None]).abs().sum(-1).mean(-1)
        row_entropy = -torch.where(a > 0, a * a.clamp_min(1e-300).log(), torch.zeros_like(a)).sum(-1)  # [N, q]
        entropy += row_entropy.mean(-1)
        scale = torch.where(seen > 1, 1.0 / seen.log().clamp_min(1e-300), torch.zeros_like(seen))
        normalized += torch.where(seen[None] > 1, row_entropy * scale[None], torch.ones_like(row_entropy)).mean(-1)
    T = len(examples)
    head_pairs = (pairs / T).reshape(L, H, L, H)
    c = head_pairs.max(dim=3).values
    return {
        "headPairs": head_pairs.tolist(),
        "c": c.tolist(),
        "layerPairs": c.max(dim=1).values.tolist(),
        "uniform": (uniform / T).reshape(L, H).tolist(),
        "entropy": (entropy / T).reshape(L, H).tolist(),
        "entropyNormalized": (normalized / T).reshape(L, H).tolist(),
    }


def main():
    expected_path, out_path = sys.argv[1:3]
    torch.set_num_threads(1)
    with open(expected_path) as f:
        expected = json.load(f)
    result = {"examples": len(expected["examples"]), "stacks": {}}
    for stack in expected["stacks"]:
        examples = [ex["stacks"][stack["name"]] for ex in expected["examples"]]
        result["stacks"][stack["name"]] = stack_views(examples, stack.get("causal", False))
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
