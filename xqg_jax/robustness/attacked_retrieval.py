"""Clean vs attacked retrieval, per language and language family, for two systems.

For one attacked query set and each system (xDR, xDR+xQG), the attacked texts are embedded
with the same query tower and searched like the clean queries. Per query: R@kt clean and
attacked (0/100), the gold passage's presence in the top `success_k` before and after, the
edit rate. Aggregates per language, per family (`languages.LANGUAGES`) and macro:
R@kt clean / attacked / absolute drop / relative drop, attack success rate (of the queries
whose gold was in the clean top-k and that the attack changed, the share whose gold left
it), mean edit rate of the attacked queries, and the count of unattacked queries. The two
systems' per-query drops are compared with the paired tests of `eval/significance.py`
(B = xDR+xQG against A = xDR: a negative delta means xQG made the drop smaller).
"""

from typing import Mapping, Sequence

import numpy as np

from xqg_jax import languages
from xqg_jax.eval import significance
from xqg_jax.eval import xor_retrieve
from xqg_jax.robustness import attacked_set as attack_lib


def gold_in_top(ranking: Mapping[str, Sequence[str]], gold: Mapping[str, set[str]],
                k: int) -> dict[str, int]:
  """{query id: 1 if any gold passage is in its top `k`, else 0} over the queries in `gold`."""
  return {qid: int(bool(gold[qid] & set(ranking[qid][:k]))) for qid in gold if qid in ranking}


def per_query(attacked: Sequence[attack_lib.AttackedQuery], clean_outcomes: dict,
              attacked_outcomes: dict, clean_gold: Mapping[str, int],
              attacked_gold: Mapping[str, int]) -> dict[str, dict]:
  """Per counted query: lang, attacked flag, edit rate, R@kt clean/attacked, gold in top-k."""
  out = {}
  for row in attacked:
    if row.id not in clean_outcomes:
      continue  # Not counted by R@kt (yes/no answers).
    clean, after = clean_outcomes[row.id], attacked_outcomes[row.id]
    entry = {'lang': row.lang, 'attacked': row.attacked is not None, 'edit_rate': row.edit_rate,
             'gold_clean': clean_gold.get(row.id), 'gold_attacked': attacked_gold.get(row.id)}
    for metric in (m for m in clean if m.startswith('R@')):
      entry[f'{metric} clean'] = 100.0 * clean[metric]
      entry[f'{metric} attacked'] = 100.0 * after[metric]
    out[row.id] = entry
  return out


def _summary(entries: list[dict], metrics: Sequence[str]) -> dict:
  attacked = [e for e in entries if e['attacked']]
  at_risk = [e for e in attacked if e['gold_clean']]
  out = {'n': len(entries), 'unattacked': len(entries) - len(attacked),
         'edit_rate': float(np.mean([e['edit_rate'] for e in attacked])) if attacked else None,
         'success_rate': (float(np.mean([not e['gold_attacked'] for e in at_risk]))
                          if at_risk else None)}
  for metric in metrics:
    clean = float(np.mean([e[f'{metric} clean'] for e in entries]))
    after = float(np.mean([e[f'{metric} attacked'] for e in entries]))
    out[metric] = {'clean': clean, 'attacked': after, 'drop': clean - after,
                   'relative_drop': (clean - after) / clean if clean else None}
  return out


def aggregate(entries: Mapping[str, dict], metrics: Sequence[str]) -> dict:
  """{'languages': {lang: summary}, 'families': {family: summary}, 'macro': summary}.

  Family and macro summaries average their languages' summaries (each language weighs the
  same, like XOR-Retrieve's macro average); counts are summed.
  """
  by_lang: dict[str, list[dict]] = {}
  for entry in entries.values():
    by_lang.setdefault(entry['lang'], []).append(entry)
  codes = sorted(by_lang, key=list(languages.LANGUAGES).index)
  per_lang = {lang: _summary(by_lang[lang], metrics) for lang in codes}

  def pool(members):
    parts = [per_lang[m] for m in members]
    out = {'languages': list(members), 'n': sum(p['n'] for p in parts),
           'unattacked': sum(p['unattacked'] for p in parts),
           # A language the attack changed no query of has no edit rate; it is left out of
           # the average (not counted as 0) and named here.
           'languages_not_attacked': [m for m, p in zip(members, parts)
                                      if p['edit_rate'] is None]}
    edit_rates = [p['edit_rate'] for p in parts if p['edit_rate'] is not None]
    out['edit_rate'] = float(np.mean(edit_rates)) if edit_rates else None
    rates = [p['success_rate'] for p in parts if p['success_rate'] is not None]
    out['success_rate'] = float(np.mean(rates)) if rates else None
    for metric in metrics:
      values = {k: float(np.mean([p[metric][k] for p in parts]))
                for k in ('clean', 'attacked', 'drop')}
      values['relative_drop'] = (values['drop'] / values['clean'] if values['clean']
                                 else None)
      out[metric] = values
    return out

  return {'languages': per_lang,
          'families': {family: pool(members)
                       for family, members in languages.families(codes).items()},
          'macro': pool(codes)}


def compare_drops(entries_a: Mapping[str, dict], entries_b: Mapping[str, dict],
                  metric: str, eval_config) -> dict:
  """Paired tests of system B's per-query drop in `metric` against system A's."""
  if set(entries_a) != set(entries_b):
    raise ValueError('the two systems were evaluated on different attacked queries')
  drop = lambda e: e[f'{metric} clean'] - e[f'{metric} attacked']
  lang_of = {qid: e['lang'] for qid, e in entries_a.items()}
  return significance.compare({q: drop(e) for q, e in entries_a.items()},
                              {q: drop(e) for q, e in entries_b.items()}, lang_of,
                              f'{metric} drop', eval_config)


def outcomes_of(ranking: Mapping[str, Sequence[str]], queries, texts: Mapping[str, str],
                kilo_tokens: Sequence[int]) -> dict:
  """R@kt outcomes of a ranking (the counted queries only)."""
  counted = {q.id for q in queries if xor_retrieve.span_answers(q.answers)}
  return xor_retrieve.query_outcomes(
      {qid: [texts[d] for d in ranking[qid]] for qid in counted}, queries, kilo_tokens)
