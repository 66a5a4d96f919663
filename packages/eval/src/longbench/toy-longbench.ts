// Small LongBench-format data and tables for the bundled toy model (tests, demos). The toy answers
// only "what is the secret code of the …" questions, so the contexts hide such a code: full attention
// can answer them, which makes the pipeline's scores mean something even on a 6-layer model.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateHaystack } from '../haystack/haystack-generator.js';

/** A context of about `words` words with "The secret code of the {key} is {value}." in the middle. */
function needleContext(key: string, value: string, words: number, seed: number): string {
  const text = generateHaystack(words * 6, { seed })
    .split(' ')
    .slice(0, words);
  const middle = Math.floor(text.length / 2);
  return [...text.slice(0, middle), `The secret code of the ${key} is ${value}.`, ...text.slice(middle)].join(
    ' ',
  );
}

const QUESTION = (key: string) => `What is the secret code of the ${key}?`;

/**
 * Writes `dataset2prompt.json` and `dataset2maxlen.json` (toy-format templates, short answers) to
 * `tables`, and to `data`: hotpotqa (qa_f1), passage_count (count), trec (classification), lcc
 * (code_sim), multifieldqa_zh (Chinese qa_f1) and qasper_e (LongBench-E), 2–3 samples each.
 */
export async function writeToyLongBench(
  data: string,
  tables: string,
  options: { words?: number } = {},
): Promise<void> {
  const words = options.words ?? 120;
  await mkdir(data, { recursive: true });
  await mkdir(tables, { recursive: true });
  const template = '{context}\n\nQuestion: {input}\nAnswer:';
  const datasets = ['hotpotqa', 'passage_count', 'trec', 'lcc', 'multifieldqa_zh', 'qasper'];
  await writeFile(
    join(tables, 'dataset2prompt.json'),
    JSON.stringify(Object.fromEntries(datasets.map((dataset) => [dataset, template]))),
  );
  await writeFile(
    join(tables, 'dataset2maxlen.json'),
    JSON.stringify(Object.fromEntries(datasets.map((dataset) => [dataset, 20]))),
  );
  const sample = (
    id: string,
    key: string,
    value: string,
    seed: number,
    extra: Record<string, unknown> = {},
  ) => ({
    _id: id,
    input: QUESTION(key),
    context: needleContext(key, value, words, seed),
    answers: [value],
    length: words,
    all_classes: null,
    ...extra,
  });
  const lines = (samples: object[]) => `${samples.map((entry) => JSON.stringify(entry)).join('\n')}\n`;
  await writeFile(
    join(data, 'hotpotqa.jsonl'),
    lines([
      sample('hq-1', 'blue door', '4817263', 11),
      sample('hq-2', 'red lamp', '9052718', 12),
      sample('hq-3', 'old boat', '3391045', 13),
    ]),
  );
  await writeFile(
    join(data, 'passage_count.jsonl'),
    lines([sample('pc-1', 'green box', '7146093', 21), sample('pc-2', 'tall tree', '5203817', 22)]),
  );
  await writeFile(
    join(data, 'trec.jsonl'),
    lines([
      sample('tr-1', 'small cup', '2468135', 31, {
        answers: ['Number'],
        all_classes: ['Number', 'Location', 'Person'],
      }),
      sample('tr-2', 'iron gate', '1357924', 32, {
        answers: ['Location'],
        all_classes: ['Number', 'Location', 'Person'],
      }),
    ]),
  );
  await writeFile(
    join(data, 'lcc.jsonl'),
    lines([
      sample('lc-1', 'code box', '8080123', 41, { answers: ['    return 8080123'] }),
      sample('lc-2', 'port map', '4433210', 42, { answers: ['port = 4433210'] }),
    ]),
  );
  await writeFile(
    join(data, 'multifieldqa_zh.jsonl'),
    lines([
      sample('zh-1', 'jade key', '6061234', 51, { answers: ['密码是6061234'] }),
      sample('zh-2', 'silk rope', '7072345', 52, { answers: ['北京清华大学'] }),
    ]),
  );
  await writeFile(
    join(data, 'qasper_e.jsonl'),
    lines([
      sample('qe-1', 'blue door', '4817263', 61, { length: 1200 }),
      sample('qe-2', 'gold coin', '2204931', 62, { length: 5200 }),
      sample('qe-3', 'glass jar', '8810276', 63, { length: 9100 }),
    ]),
  );
}
