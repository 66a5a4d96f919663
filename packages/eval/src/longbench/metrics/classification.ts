// LongBench's classification score (trec, lsht): which class names the prediction mentions.

/**
 * The class names found in `prediction` (as substrings), without those that are part of the answer
 * but not the answer itself ("Description" when the answer is "Description of a person"); the score
 * is 1 / (number of names left) when the answer is among them, else 0.
 *
 * The original removes those part-of-the-answer names from the list while iterating over it, so the
 * name right after each removed one escapes the check; here every such name is removed, as intended.
 * The results differ only when two such names are found next to each other in class order.
 */
export function classificationScore(
  prediction: string,
  answer: string,
  allClasses: readonly string[],
): number {
  const found = allClasses.filter((name) => prediction.includes(name));
  const kept = found.filter((name) => !(answer.includes(name) && name !== answer));
  return kept.includes(answer) ? 1.0 / kept.length : 0.0;
}
