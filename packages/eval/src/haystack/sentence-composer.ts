// The haystack grammar: a paragraph keeps one topic, one tense and one recurring character while
// each sentence draws one of many rules, so the text reads as prose yet rarely repeats a sentence.
import {
  capitalize,
  type NounForms,
  nounForms,
  numberWords,
  type VerbForms,
  verbForms,
  withArticle,
  yearWords,
} from './english.js';
import type { Mulberry32 } from './mulberry32.js';
import {
  ADJECTIVES,
  BELIEF_VERBS,
  CALENDAR,
  CHARACTERS,
  type Character,
  CONJUNCTIONS,
  DEGREE_ADVERBS,
  DURATIONS,
  FEELINGS,
  FRACTIONS,
  FREQUENCY_ADVERBS,
  INTRANSITIVE_VERBS,
  JUDGMENTS,
  LEADING_SUBORDINATORS,
  MANNER_ADVERBS,
  MASSES,
  MODALS,
  NOUNS,
  PAST_MODALS,
  PAST_TIMES,
  PEOPLE,
  PERSON_STATES,
  PLACE_PREPOSITIONS,
  PLACES,
  SPEECH_VERBS,
  TIMES,
  TOPICS,
  TRAILING_SUBORDINATORS,
  TRANSITIONS,
  VERBS,
} from './vocabulary.js';

type Tense = 'present' | 'past';

/** Who does something: the text and what the verb must agree with. */
interface Agent {
  readonly text: string;
  readonly plural: boolean;
  readonly person: 1 | 2 | 3;
}

interface Topic {
  readonly name: string;
  readonly nouns: readonly NounForms[];
  readonly masses: readonly string[];
  readonly places: readonly string[];
  readonly roles: readonly NounForms[];
  readonly verbs: readonly VerbForms[];
  readonly adjectives: readonly string[];
}

const TOPIC_TABLE: readonly Topic[] = TOPICS.map((topic) => ({
  name: topic.name,
  nouns: topic.nouns.map(nounForms),
  masses: topic.masses,
  places: topic.places,
  roles: topic.roles.map(nounForms),
  verbs: topic.verbs.map(verbForms),
  adjectives: topic.adjectives,
}));
const GENERAL_NOUNS = NOUNS.map(nounForms);
const GENERAL_PEOPLE = PEOPLE.map(nounForms);
const GENERAL_VERBS = VERBS.map(verbForms);
const INTRANSITIVES = INTRANSITIVE_VERBS.map(verbForms);
const SPEECH = SPEECH_VERBS.map(verbForms);
const BELIEFS = BELIEF_VERBS.map(verbForms);
const FEELING_VERBS = FEELINGS.map(verbForms);
const GO = verbForms('go/went/gone/goes');
const COME = verbForms('come/came/come');
// Clock hours in words: one … twelve.
const HOURS = Array.from({ length: 12 }, (_, i) => numberWords(i + 1));
const QUANTIFIERS = [
  'many',
  'most',
  'some',
  'a few',
  'several',
  'the',
  'local',
  'young',
  'older',
  'experienced',
  'the best',
  'all the',
];
const THING_DETERMINERS = [
  'some',
  'a few',
  'several',
  'all the',
  'both',
  'the other',
  'those',
  'these',
  'the last of the',
  'a pile of',
  'a row of',
];
const CONTAINERS = [
  'a box of',
  'a bag of',
  'a jar of',
  'a basket of',
  'a tray of',
  'a bucket of',
  'a sack of',
  'a heap of',
];
const MASS_DETERMINERS = [
  'some',
  'the',
  'a little',
  'plenty of',
  'fresh',
  'more',
  'enough',
  'a great deal of',
  'a bit of',
  '',
];
const GROUP_SUBJECTS = [
  'people',
  'they',
  'everyone',
  'nobody',
  'somebody',
  'the whole family',
  'visitors',
  'the locals',
  'children',
];
const SINGULAR_GROUPS = new Set(['everyone', 'nobody', 'somebody', 'the whole family']);
const WHY_QUESTIONS = ['Why', 'How often', 'When', 'Where', 'How'];
const SETTINGS = [
  'our town',
  'the village',
  'my family',
  'this part of the country',
  'our street',
  'the valley',
  'the old quarter',
];

/** Writes paragraphs from a PRNG; all randomness comes from `rng`, so output is a function of its seed. */
export class SentenceComposer {
  private topic: Topic;
  private tense: Tense = 'past';
  private character: Character;
  private mentioned = false;
  private lastTopic = -1;

  constructor(private readonly rng: Mulberry32) {
    this.topic = TOPIC_TABLE[0] as Topic;
    this.character = CHARACTERS[0] as Character;
  }

  /** One paragraph of 3 to 8 sentences about one topic. */
  paragraph(): string {
    const rng = this.rng;
    let index = rng.below(TOPIC_TABLE.length - 1);
    if (index >= this.lastTopic && this.lastTopic >= 0) index += 1;
    this.lastTopic = index;
    this.topic = TOPIC_TABLE[index] as Topic;
    this.tense = rng.chance(55) ? 'past' : 'present';
    this.character = rng.pick(CHARACTERS);
    this.mentioned = false;
    const count = rng.between(3, 8);
    const sentences: string[] = [];
    for (let i = 0; i < count; i++) {
      const body = i === 0 && rng.chance(45) ? this.topicSentence() : this.sentence(i > 0);
      sentences.push(capitalize(body));
    }
    return sentences.join(' ');
  }

  // ---- sentences -------------------------------------------------------------------------------

  private sentence(mayUseTransition: boolean): string {
    const rng = this.rng;
    const t = this.tense;
    const roll = rng.below(1000);
    if (roll < 40) return `${this.question()}?`;
    if (roll < 52) return `${this.exclamation()}!`;
    if (roll < 100) return `${this.quotation()}.`;
    const body = this.statement(roll, t);
    if (mayUseTransition && rng.chance(16)) return `${rng.pick(TRANSITIONS)}, ${body}.`;
    return `${body}.`;
  }

  private statement(roll: number, t: Tense): string {
    const rng = this.rng;
    if (roll < 190) return this.clause(t);
    if (roll < 250) return `${this.time(t)}, ${this.clause(t)}`;
    if (roll < 330) return `${this.clause(t)}, ${rng.pick(CONJUNCTIONS)} ${this.clause(t)}`;
    if (roll < 400) return `${rng.pick(LEADING_SUBORDINATORS)} ${this.clause(t)}, ${this.clause(t)}`;
    if (roll < 460) return `${this.clause(t)} ${rng.pick(TRAILING_SUBORDINATORS)} ${this.clause(t)}`;
    if (roll < 505) return this.belief(t);
    if (roll < 545) return this.existential(t);
    if (roll < 580) return this.description(t);
    if (roll < 605) return this.comparison(t);
    if (roll < 635) return this.relative(t);
    if (roll < 660) return this.passive(t);
    if (roll < 680) return this.advice();
    if (roll < 705) return this.statistic(t);
    if (roll < 725) return this.year();
    if (roll < 750)
      return `${this.clause(t)}; ${rng.chance(40) ? `${rng.pick(TRANSITIONS).toLowerCase()}, ` : ''}${this.clause(t)}`;
    if (roll < 775) return this.list(t);
    if (roll < 800) return this.gerundSubject(t);
    if (roll < 820) return this.appositive(t);
    if (roll < 840) return this.memory();
    if (roll < 865) return this.conditional(t);
    if (roll < 890) return this.errand(t);
    if (roll < 910) return this.sequence(t);
    if (roll < 930) return this.feeling(t);
    if (roll < 950) return this.trouble(t);
    if (roll < 970) return this.onceUponATime(t);
    if (roll < 985) return this.notEvery(t);
    return `${this.clause(t)} ${rng.pick(['at the time', 'for a while', 'in those days', 'all the same', 'more or less', 'as usual', 'once again', 'without fail', "to everyone's surprise"])}`;
  }

  private topicSentence(): string {
    const rng = this.rng;
    const name = this.topic.name;
    const judgment = rng.pick(JUDGMENTS);
    switch (rng.below(9)) {
      case 0:
        return `${name} has always been ${judgment} for ${rng.chance(50) ? this.people().text : `people like ${this.characterName()}`}.`;
      case 1:
        return `there is something ${judgment} about ${name}.`;
      case 2:
        return `few things are as ${judgment} as ${name}, at least in ${rng.pick(SETTINGS)}.`;
      case 3:
        return `anyone who cares about ${name} knows that ${this.clause('present')}.`;
      case 4:
        return `${name} ${this.tense === 'past' ? 'was' : 'is'} a big part of life in ${rng.pick(SETTINGS)}.`;
      case 5: {
        const asker = rng.pick([
          'people often ask me',
          'friends sometimes ask me',
          'a neighbor once asked me',
          'my family keeps asking me',
          'visitors always want to know',
        ]);
        return `${asker} what I ${rng.pick(['like', 'love', 'enjoy', 'find so special', 'see'])} in ${name}.`;
      }
      case 6:
        return `I have been thinking about ${name} ${rng.pick(['a great deal', 'quite a lot', 'more than usual', 'on and off'])} ${rng.pick(['lately', 'this year', 'since the spring', 'all winter', 'these past weeks'])}.`;
      case 7:
        return `much has been written about ${name}, but ${this.clause(this.tense)}.`;
      default:
        return `this is a short account of ${name} as ${this.characterName()} ${this.tense === 'past' ? 'knew' : 'knows'} it.`;
    }
  }

  private question(): string {
    const rng = this.rng;
    const t = this.tense;
    switch (rng.below(8)) {
      case 0: {
        const agent = this.agent();
        return `${rng.pick(WHY_QUESTIONS)} ${this.doAux(agent, t)} ${agent.text} ${this.verb().base} ${this.object()}`;
      }
      case 1:
        return `who ${this.simple(this.verb(), { text: 'who', plural: false, person: 3 }, t)} the ${this.noun().singular}`;
      case 2:
        return `what would happen if ${this.agent().text} ${this.verb().past} ${this.object()} ${this.adverbial('past')}`;
      case 3:
        return `is there anything more ${rng.pick(JUDGMENTS)} than ${this.verb().gerund} ${this.object()} ${this.adverbial('present')}`;
      case 4:
        return `have you ever ${this.verb().participle} ${this.object()}`;
      case 5:
        return `how many ${this.noun().plural} does ${withArticle(this.role().singular)} really need`;
      case 6:
        return `where ${t === 'past' ? 'had' : 'have'} all the ${this.noun().plural} gone`;
      default:
        return `${t === 'past' ? 'was' : 'is'} it really worth ${this.verb().gerund} ${this.object()}`;
    }
  }

  private exclamation(): string {
    const rng = this.rng;
    if (rng.chance(50))
      return `what ${withArticle(`${this.adjective()} ${this.noun().singular}`)} ${this.tense === 'past' ? 'that was' : 'it is'}`;
    return `how ${this.adjective()} the ${this.place()} ${this.tense === 'past' ? 'looked' : 'looks'} ${rng.pick(TIMES)}`;
  }

  private quotation(): string {
    const rng = this.rng;
    const speaker = this.agent();
    const said = this.simple(rng.pick(SPEECH), speaker, this.tense);
    let quoted: string;
    switch (rng.below(3)) {
      case 0:
        quoted = this.clause('present');
        break;
      case 1:
        quoted = `${rng.pick(['never', 'always', 'do not', 'please'])} ${this.verb().base} ${this.object()} ${this.adverbial('present')}`;
        break;
      default:
        quoted = `the ${this.noun().singular} ${rng.chance(50) ? 'is' : 'was'} ${rng.pick(DEGREE_ADVERBS)} ${this.adjective()}`;
    }
    const past = this.tense === 'past';
    const after = rng.pick([
      `and then ${this.simple(this.verb(), speaker, this.tense)} ${this.object()}`,
      past ? 'and nobody argued' : 'and nobody argues',
      `before ${this.verb().gerund} ${this.object()}`,
      past ? 'and everyone laughed' : 'and everyone laughs',
      `which ${past ? 'was' : 'is'} ${rng.pick(JUDGMENTS)} to hear`,
      `and that ${past ? 'was' : 'is'} the end of it`,
    ]);
    return `${speaker.text} ${said}, "${capitalize(quoted)}," ${after}`;
  }

  private belief(t: Tense): string {
    const rng = this.rng;
    const r = rng.below(4);
    if (r === 0) return `it is often said that ${this.clause(t)}`;
    if (r === 1) return `nobody could explain why ${this.clause(t)}`;
    const agent = rng.chance(50) ? this.people() : this.agent();
    return `${agent.text} ${this.finite(rng.pick(BELIEFS), agent, t, true)} that ${this.clause(t)}`;
  }

  private existential(t: Tense): string {
    const rng = this.rng;
    const noun = this.noun();
    const where = `${rng.pick(PLACE_PREPOSITIONS)} the ${this.place()}`;
    if (rng.chance(20)) return `there ${t === 'past' ? 'was' : 'is'} only one ${noun.singular} ${where}`;
    return `there ${t === 'past' ? 'were' : 'are'} ${this.count()} ${rng.chance(50) ? `${this.adjective()} ` : ''}${noun.plural} ${where}`;
  }

  private description(t: Tense): string {
    const rng = this.rng;
    const plural = rng.chance(30);
    const noun = this.noun();
    const head = `the ${rng.chance(40) ? `${this.adjective()} ` : ''}${plural ? noun.plural : noun.singular}`;
    const be = t === 'past' ? (plural ? 'were' : 'was') : plural ? 'are' : 'is';
    const tail = rng.chance(50) ? ` ${rng.pick(TIMES)}` : rng.chance(50) ? `, and ${this.clause(t)}` : '';
    return `${head} ${be} ${rng.pick(DEGREE_ADVERBS)} ${this.adjective()}${tail}`;
  }

  private comparison(t: Tense): string {
    const rng = this.rng;
    const be = t === 'past' ? 'was' : 'is';
    const degree = rng.pick(['much', 'far', 'a little', 'no', 'somewhat', 'a great deal']);
    const left = rng.chance(50) ? `the ${this.place()}` : `${this.verb().gerund} ${this.object()}`;
    const right = rng.chance(50) ? `the ${this.place()}` : `${this.verb().gerund} ${this.object()}`;
    return `${left} ${be} ${degree} more ${rng.pick(JUDGMENTS)} than ${right}`;
  }

  private relative(t: Tense): string {
    const rng = this.rng;
    const role = this.role();
    const plural = rng.chance(40);
    const agent: Agent = { text: `the ${plural ? role.plural : role.singular}`, plural, person: 3 };
    if (rng.chance(50)) {
      return `${agent.text} who ${this.finite(this.verb(), agent, t)} ${this.object()} ${this.finite(this.verb(), agent, t)} ${this.object()} ${this.adverbial(t)}`;
    }
    const subject = this.agent();
    return `${subject.text} ${this.finite(this.verb(), subject, t)} the ${this.noun().singular} that ${agent.text} had ${this.verb().participle} ${this.adverbial('past')}`;
  }

  private passive(t: Tense): string {
    const rng = this.rng;
    const plural = rng.chance(40);
    const noun = this.noun();
    const aux =
      t === 'past'
        ? rng.pick(
            plural
              ? ['were', 'had been', 'were always', 'were once']
              : ['was', 'had been', 'was always', 'was once'],
          )
        : rng.pick(
            plural
              ? ['are', 'have been', 'are usually', 'will be']
              : ['is', 'has been', 'is usually', 'will be'],
          );
    const by = rng.chance(70)
      ? ` by ${rng.chance(50) ? `the ${this.role().singular}` : this.characterName()}`
      : '';
    return `the ${plural ? noun.plural : noun.singular} ${aux} ${this.verb().participle}${by} ${this.adverbial(t)}`;
  }

  private advice(): string {
    const rng = this.rng;
    if (rng.chance(50)) {
      return `it is ${rng.pick(['wise', 'best', 'usually a good idea', 'never a good idea', 'tempting', 'easy'])} to ${this.verb().base} ${this.object()} before ${this.verb().gerund} ${this.object()}`;
    }
    return `if you want to ${this.verb().base} ${this.object()}, ${rng.pick(['you should', 'try to', 'remember to', 'do not forget to', 'you must first'])} ${this.verb().base} ${this.object()}`;
  }

  private statistic(t: Tense): string {
    const rng = this.rng;
    const r = rng.below(3);
    if (r === 0) {
      const total = rng.between(3, 20);
      const part = rng.between(1, total - 1);
      const agent: Agent = {
        text: `${numberWords(part)} out of every ${numberWords(total)} ${this.role().plural}`,
        plural: true,
        person: 3,
      };
      return `about ${agent.text} ${this.finite(this.verb(), agent, t)} ${this.object()}`;
    }
    if (r === 1) {
      const be = t === 'past' ? 'were' : 'are';
      return `${rng.pick(FRACTIONS)} of the ${this.noun().plural} ${rng.pick(PLACE_PREPOSITIONS)} the ${this.place()} ${be} ${this.adjective()}`;
    }
    const n = numberWords(rng.chance(50) ? rng.between(2, 99) : rng.between(1, 40) * 25);
    return `${rng.pick(['nearly', 'about', 'more than', 'fewer than', 'exactly', 'at least', 'roughly'])} ${n} ${this.role().plural} ${t === 'past' ? 'came' : 'come'} to the ${this.place()} ${this.time(t)}`;
  }

  private year(): string {
    const rng = this.rng;
    const year = rng.between(1850, 2009);
    if (rng.chance(50)) return `in ${yearWords(year)}, ${this.clause('past')}`;
    return `the ${this.place()} was ${rng.pick(['built', 'opened', 'rebuilt', 'first mentioned', 'sold', 'painted'])} in ${yearWords(year)}, ${rng.pick(['long before', 'not long after', 'just before', 'the same year'])} ${this.clause('past')}`;
  }

  private list(t: Tense): string {
    const agent = this.agent();
    return `${agent.text} ${this.finite(this.verb(), agent, t)} ${this.object()}, ${this.object()}${this.rng.chance(50) ? ',' : ''} and ${this.object()}`;
  }

  private gerundSubject(t: Tense): string {
    const rng = this.rng;
    const be = t === 'past' ? 'was' : 'is';
    const tail = rng.chance(50) ? ` for ${this.people().text}` : ` ${rng.pick(TIMES)}`;
    return `${this.verb().gerund} ${this.object()} ${be} ${rng.pick(DEGREE_ADVERBS)} ${rng.pick(JUDGMENTS)}${tail}`;
  }

  private appositive(t: Tense): string {
    const rng = this.rng;
    const who = this.characterAgent(false);
    const role = this.role();
    const what = who.plural ? role.plural : withArticle(`${this.adjective()} ${role.singular}`);
    const from = rng.pick([
      `from the ${this.place()}`,
      'from the next village',
      'from across the river',
      'of many years',
      'and a good friend',
      'by trade',
    ]);
    return `${who.text}, ${what} ${from}, ${this.finite(this.verb(), who, t)} ${this.object()} ${this.adverbial(t)}`;
  }

  private memory(): string {
    const agent = this.agent();
    return `I still remember the ${this.adjective()} ${this.noun().singular} that ${agent.text} ${this.verb().past} ${this.rng.pick(PAST_TIMES)}`;
  }

  private conditional(t: Tense): string {
    const rng = this.rng;
    const a = this.agent();
    const b = this.agent();
    if (t === 'present') {
      return `if ${a.text} ${this.simple(this.verb(), a, 'present')} ${this.object()}, ${b.text} will ${this.verb().base} ${this.object()}`;
    }
    return `${b.text} would have ${this.verb().participle} ${this.object()} if ${a.text} had ${this.verb().participle} ${this.object()} ${rng.pick(PAST_TIMES)}`;
  }

  private errand(t: Tense): string {
    const rng = this.rng;
    const agent = this.agent();
    const move = rng.chance(60) ? GO : COME;
    return `${agent.text} ${this.finite(move, agent, t)} to the ${this.place()} to ${this.verb().base} ${this.object()}`;
  }

  private sequence(t: Tense): string {
    const agent = this.agent();
    const step = (): string => `${this.simple(this.verb(), agent, t)} ${this.object()}`;
    return `first ${agent.text} ${step()}, then ${step()}, and finally ${step()}`;
  }

  private feeling(t: Tense): string {
    const rng = this.rng;
    const verb = rng.pick(FEELING_VERBS);
    if (rng.chance(50))
      return `it ${this.simple(verb, { text: 'it', plural: false, person: 3 }, t)} ${rng.pick(['everyone', 'me', 'us', 'the others', 'nobody'])} that ${this.clause(t)}`;
    return `what ${verb.past} me most ${t === 'past' ? 'was' : 'is'} the way ${this.clause(t)}`;
  }

  private trouble(t: Tense): string {
    const rng = this.rng;
    const be = t === 'past' ? 'was' : 'is';
    const about = rng.chance(50) ? `${this.noun().plural}` : `the ${this.place()}`;
    const head = rng.pick([
      'trouble with',
      'best thing about',
      'odd thing about',
      'funny thing about',
      'worst part of',
      'whole point of',
    ]);
    return `the ${head} ${about} ${be} that ${this.clause(t)}`;
  }

  private onceUponATime(t: Tense): string {
    const role = this.role();
    const agent: Agent = { text: 'who', plural: false, person: 3 };
    const lead =
      t === 'past'
        ? `there was once ${withArticle(role.singular)}`
        : `there is ${withArticle(role.singular)} in ${this.rng.pick(SETTINGS)}`;
    return `${lead} who ${this.finite(this.verb(), agent, t)} ${this.object()} ${this.adverbial(t)}`;
  }

  private notEvery(t: Tense): string {
    const role = this.role();
    const agent: Agent = { text: `not every ${role.singular}`, plural: false, person: 3 };
    return `${agent.text} ${this.simple(this.verb(), agent, t)} ${this.object()} ${this.adverbial(t)}`;
  }

  // ---- clauses and phrases ---------------------------------------------------------------------

  /** Subject plus predicate, no final punctuation. */
  private clause(t: Tense): string {
    const rng = this.rng;
    const agent = this.agent();
    const r = rng.below(100);
    let predicate: string;
    if (r < 55) {
      predicate = `${this.finite(this.verb(), agent, t)} ${this.object()}${rng.chance(45) ? ` ${this.adverbial(t)}` : ''}`;
    } else if (r < 75) {
      predicate = this.finite(rng.pick(INTRANSITIVES), agent, t);
      const manner = rng.chance(40);
      if (manner) predicate += ` ${rng.pick(MANNER_ADVERBS)}`;
      if (rng.chance(60)) predicate += ` ${this.adverbial(t, manner)}`;
    } else if (r < 87) {
      const [state, preposition] = rng.pick(PERSON_STATES);
      const about = rng.chance(55) ? ` ${preposition} ${this.object()}` : '';
      predicate = `${this.be(agent, t)} ${rng.pick(DEGREE_ADVERBS)} ${state}${about}`;
    } else if (r < 93) {
      predicate = `${this.be(agent, t)} ${rng.pick(PLACE_PREPOSITIONS)} the ${this.place()} ${rng.pick(TIMES)}`;
    } else {
      const have = t === 'past' ? 'had' : agent.person === 3 && !agent.plural ? 'has' : 'have';
      predicate = `${have} ${this.count()} ${this.noun().plural}${rng.chance(50) ? ` ${rng.pick(PLACE_PREPOSITIONS)} the ${this.place()}` : ''}`;
    }
    return `${agent.text} ${predicate}`;
  }

  /** A conjugated verb group: simple, perfect, progressive, modal or negated. */
  private finite(verb: VerbForms, agent: Agent, t: Tense, simpleOnly = false): string {
    const rng = this.rng;
    const r = simpleOnly ? 0 : rng.below(100);
    if (r < 62) {
      const adverb = !simpleOnly && rng.chance(14) ? `${rng.pick(FREQUENCY_ADVERBS)} ` : '';
      return adverb + this.simple(verb, agent, t);
    }
    if (r < 71)
      return `${t === 'past' ? 'had' : agent.person === 3 && !agent.plural ? 'has' : 'have'} ${verb.participle}`;
    if (r < 80) return `${this.be(agent, t)} ${verb.gerund}`;
    if (r < 94) return `${rng.pick(t === 'past' ? PAST_MODALS : MODALS)} ${verb.base}`;
    return `${this.doAux(agent, t)} not ${verb.base}`;
  }

  private simple(verb: VerbForms, agent: Agent, t: Tense): string {
    if (t === 'past') return verb.past;
    return agent.person === 3 && !agent.plural ? verb.third : verb.base;
  }

  private be(agent: Agent, t: Tense): string {
    if (t === 'past') return agent.plural || agent.person === 2 ? 'were' : 'was';
    if (agent.person === 1 && !agent.plural) return 'am';
    return agent.person === 3 && !agent.plural ? 'is' : 'are';
  }

  private doAux(agent: Agent, t: Tense): string {
    if (t === 'past') return 'did';
    return agent.person === 3 && !agent.plural ? 'does' : 'do';
  }

  /** Someone who acts: the paragraph's character, a topic role, a relative, I, we, you, people. */
  private agent(): Agent {
    const rng = this.rng;
    const r = rng.below(100);
    if (r < 26) return this.characterAgent(true);
    if (r < 40)
      return {
        text: `the ${rng.chance(40) ? `${this.adjective()} ` : ''}${this.role().singular}`,
        plural: false,
        person: 3,
      };
    if (r < 50) return this.people();
    if (r < 56) return { text: 'I', plural: false, person: 1 };
    if (r < 61) return { text: 'we', plural: true, person: 1 };
    if (r < 64) return { text: 'you', plural: false, person: 2 };
    if (r < 71)
      return { text: withArticle(`${this.adjective()} ${this.role().singular}`), plural: false, person: 3 };
    if (r < 79) {
      const person = rng.pick(GENERAL_PEOPLE);
      const plural = rng.chance(30);
      return {
        text: `${rng.pick(plural ? ['my', 'our', 'the', 'some'] : ['my', 'our', 'the', 'one'])} ${plural ? person.plural : person.singular}`,
        plural,
        person: 3,
      };
    }
    if (r < 86) {
      const text = rng.chance(50)
        ? rng.pick(GROUP_SUBJECTS)
        : `everyone ${rng.pick(['in', 'at', 'near'])} the ${this.place()}`;
      return { text, plural: !text.startsWith('everyone') && !SINGULAR_GROUPS.has(text), person: 3 };
    }
    return { text: `the ${this.role().plural}`, plural: true, person: 3 };
  }

  /** A plural group of the topic's people: `most gardeners`. */
  private people(): Agent & { plural: true } {
    return { text: `${this.rng.pick(QUANTIFIERS)} ${this.role().plural}`, plural: true, person: 3 };
  }

  private characterAgent(mayUsePronoun: boolean): Agent {
    const character = this.character;
    const plural = character.pronoun === 'they';
    const usePronoun = mayUsePronoun && this.mentioned && this.rng.chance(50);
    this.mentioned = true;
    return { text: usePronoun ? character.pronoun : character.name, plural, person: 3 };
  }

  private characterName(): string {
    this.mentioned = true;
    return this.character.name;
  }

  private possessive(): string {
    const rng = this.rng;
    const character = this.character;
    if (rng.chance(25) && this.mentioned) {
      if (character.pronoun === 'they') return 'their';
      if (character.name.split(' ').length <= 2) return `${character.name}'s`;
      return character.pronoun === 'he' ? 'his' : 'her';
    }
    return rng.pick([
      'my',
      'our',
      'his',
      'her',
      'their',
      'your',
      'the same',
      'another',
      'a spare',
      'the only',
    ]);
  }

  /** A thing acted on. */
  private object(): string {
    const rng = this.rng;
    const r = rng.below(100);
    if (r < 14) return `the ${this.noun().singular}`;
    if (r < 26) return `the ${this.adjective()} ${this.noun().singular}`;
    if (r < 36) return withArticle(`${rng.chance(60) ? `${this.adjective()} ` : ''}${this.noun().singular}`);
    if (r < 46) {
      const possessive = this.possessive();
      const noun = this.noun();
      return `${possessive} ${possessive.startsWith('a') ? noun.singular : rng.chance(70) ? noun.singular : noun.plural}`;
    }
    if (r < 55) return `${this.count()} ${this.noun().plural}`;
    if (r < 63) return `${rng.pick(THING_DETERMINERS)} ${this.noun().plural}`;
    if (r < 70) return `the ${this.noun().plural}`;
    if (r < 80) {
      const determiner = rng.pick(MASS_DETERMINERS);
      return determiner === '' ? this.mass() : `${determiner} ${this.mass()}`;
    }
    if (r < 85) return `${rng.pick(['every', 'each', 'one', 'another', 'that'])} ${this.noun().singular}`;
    if (r < 92)
      return `the ${this.noun().singular} ${rng.pick(['by', 'from', 'in', 'near', 'behind'])} the ${this.place()}`;
    return `${rng.pick(CONTAINERS)} ${rng.chance(60) ? this.noun().plural : this.mass()}`;
  }

  /** Where, when or how: one phrase after a verb group. */
  private adverbial(t: Tense, notManner = false): string {
    const rng = this.rng;
    let r = rng.below(100);
    if (notManner && r >= 58 && r < 72) r -= 58;
    if (r < 38)
      return `${rng.pick(PLACE_PREPOSITIONS)} the ${rng.chance(25) ? `${this.adjective()} ` : ''}${this.place()}`;
    if (r < 58) return t === 'past' && rng.chance(40) ? rng.pick(PAST_TIMES) : rng.pick(TIMES);
    if (r < 72) return rng.pick(MANNER_ADVERBS);
    if (r < 80) {
      const unit = rng.pick(DURATIONS);
      if (rng.chance(25)) return `for ${withArticle(unit)} or so`;
      return `for ${rng.pick(['', 'about ', 'nearly ', 'almost ', 'more than '])}${numberWords(rng.between(2, 30))} ${unit}s`;
    }
    if (r < 87)
      return `with ${rng.chance(50) ? withArticle(`${this.adjective()} ${this.noun().singular}`) : rng.pick(['great care', 'some difficulty', 'no fuss at all', 'a little help', 'real pleasure', 'mixed feelings'])}`;
    if (r < 93) return `${rng.chance(50) ? 'on' : 'every'} ${rng.pick(CALENDAR.slice(0, 7))}`;
    if (r < 97) return `in ${rng.pick(CALENDAR.slice(7))}`;
    const hour = rng.pick(HOURS);
    return rng.pick([
      `at ${hour} o'clock`,
      `at half past ${hour}`,
      `at a quarter to ${hour}`,
      `just after ${hour}`,
      `at around ${hour}`,
    ]);
  }

  private time(t: Tense): string {
    const rng = this.rng;
    if (t === 'past' && rng.chance(45)) return rng.pick(PAST_TIMES);
    if (rng.chance(12))
      return `${numberWords(rng.between(2, 40))} ${rng.pick(DURATIONS)}s ${t === 'past' ? 'earlier' : 'from now'}`;
    return rng.pick(TIMES);
  }

  /** A spelled-out quantity or a quantifier that takes a plural noun. */
  private count(): string {
    const rng = this.rng;
    const r = rng.below(100);
    if (r < 50) return numberWords(rng.between(2, 12));
    if (r < 75)
      return rng.pick([
        'a dozen',
        'a couple of',
        'a few',
        'several',
        'dozens of',
        'hundreds of',
        'a handful of',
        'countless',
        'no',
        'too many',
        'not enough',
      ]);
    if (r < 90) return numberWords(rng.between(13, 99));
    return numberWords(rng.between(2, 80) * 25);
  }

  private noun(): NounForms {
    const rng = this.rng;
    return rng.chance(65) ? rng.pick(this.topic.nouns) : rng.pick(GENERAL_NOUNS);
  }

  private mass(): string {
    const rng = this.rng;
    return rng.chance(60) ? rng.pick(this.topic.masses) : rng.pick(MASSES);
  }

  private place(): string {
    const rng = this.rng;
    return rng.chance(70) ? rng.pick(this.topic.places) : rng.pick(PLACES);
  }

  private role(): NounForms {
    const rng = this.rng;
    return rng.chance(72) ? rng.pick(this.topic.roles) : rng.pick(GENERAL_PEOPLE);
  }

  private verb(): VerbForms {
    const rng = this.rng;
    return rng.chance(55) ? rng.pick(this.topic.verbs) : rng.pick(GENERAL_VERBS);
  }

  private adjective(): string {
    const rng = this.rng;
    return rng.chance(40) ? rng.pick(this.topic.adjectives) : rng.pick(ADJECTIVES);
  }
}
