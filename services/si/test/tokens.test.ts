import fc from "fast-check";
import { countTokens, encodeChat } from "gpt-tokenizer/encoding/o200k_base";
import { describe, expect, it } from "vitest";
import { CHAT_REPLY_PRIMING_TOKENS, CHAT_TOKENS_PER_MESSAGE, estimateChatTokens, estimateTokens } from "../src/tokens";

// The estimator is calibrated against the real o200k_base tokenizer (gpt-tokenizer@4.0.0, a devDependency:
// tests may load its 2.4 MB of ranks, workers may not). The corpus is generated from a fixed seed out of
// small word and sentence pools written for this file, so every run measures the same text.

// ---------------------------------------------------------------------------------------------------------
// Corpus

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = {
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
};

function rand(seed: number): Rand {
  const next = mulberry32(seed);
  return {
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    chance: (p) => next() < p,
  };
}

const times = (n: number, f: (i: number) => string, sep = ""): string =>
  Array.from({ length: n }, (_, i) => f(i)).join(sep);
const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

// biome-ignore format: word lists read better filled than one per line
const EN = {
  det: ["the", "a", "this", "every", "our", "their", "some", "each", "no", "another"],
  adj: [
    "small", "quiet", "reliable", "distributed", "expensive", "curious", "ancient", "temporary", "remarkable",
    "fragile", "unexpected", "careful", "sophisticated", "idiosyncratic", "quintessential", "ephemeral",
    "pragmatic", "obscure", "meticulous", "vast", "green", "late", "tired",
  ],
  noun: [
    "river", "engineer", "request", "village", "library", "decision", "government", "window", "algorithm",
    "committee", "harvest", "journey", "neighbourhood", "telescope", "invoice", "experiment", "silence",
    "juxtaposition", "mountain", "conversation", "cathedral", "spreadsheet", "microscope", "merchant",
    "lighthouse", "paradigm", "cat", "road", "idea",
  ],
  verb: [
    "noticed", "rebuilt", "questioned", "carried", "ignored", "described", "measured", "forgot", "celebrated",
    "abandoned", "reconsidered", "photographed", "negotiated", "illuminated", "postponed", "found", "saw", "kept",
  ],
  adv: ["slowly", "carefully", "eventually", "surprisingly", "nevertheless", "quietly", "almost", "perhaps", "deliberately", "unfortunately"],
  prep: ["near", "behind", "after", "without", "beyond", "during", "across", "beneath", "toward", "inside"],
  name: ["Margaret", "Tobias", "Aurelio", "Priya", "Okonkwo", "Hannelore", "Kwame", "Siobhan", "Yusuf", "Ingrid", "Bartholomew"],
  place: ["Lisbon", "the northern valley", "Marrakesh", "the old harbour", "Saskatchewan", "Reykjavik", "the station", "Ouagadougou"],
};

function englishSentence(r: Rand): string {
  const np = () => `${r.pick(EN.det)} ${r.chance(0.6) ? `${r.pick(EN.adj)} ` : ""}${r.pick(EN.noun)}`;
  const forms = [
    () => `${cap(np())} ${r.pick(EN.verb)} ${np()} ${r.pick(EN.prep)} ${np()}.`,
    () =>
      `${r.pick(EN.name)} ${r.pick(EN.adv)} ${r.pick(EN.verb)} ${np()}, and ${np()} ${r.pick(EN.verb)} it ${r.pick(EN.prep)} ${r.pick(EN.place)}.`,
    () => `${cap(r.pick(EN.adv))}, ${np()} was ${r.pick(EN.adj)}; nobody ${r.pick(EN.verb)} why.`,
    () => `"Why would ${np()} be so ${r.pick(EN.adj)}?" asked ${r.pick(EN.name)}.`,
    () =>
      `In ${r.int(1850, 2024)}, ${r.pick(EN.name)} ${r.pick(EN.verb)} ${np()} (and ${np()}) ${r.pick(EN.prep)} ${r.pick(EN.place)}.`,
    () => `It wasn't ${r.pick(EN.adj)}, but it's what ${np()} ${r.pick(EN.verb)} ${r.pick(EN.adv)}.`,
  ];
  return r.pick(forms)();
}

const englishProse = (r: Rand, paragraphs: number): string =>
  times(paragraphs, () => times(r.int(3, 7), () => englishSentence(r), " "), "\n\n");

const IDENT = [
  "user",
  "account",
  "balance",
  "request",
  "token",
  "cache",
  "limit",
  "retry",
  "response",
  "stream",
  "model",
  "provider",
  "budget",
  "window",
];

/** camelCase identifiers of one to three words, as in TypeScript. */
const identifier = (r: Rand): string => times(r.int(1, 3), (i) => (i === 0 ? r.pick(IDENT) : cap(r.pick(IDENT))));

function codeBlock(r: Rand): string {
  const id = () => identifier(r);
  const lines = [
    `export async function ${id()}(${id()}: string, ${id()}: number): Promise<${cap(id())}> {`,
    `  const ${id()} = await env.${r.pick(IDENT).toUpperCase()}.get(\`${r.pick(IDENT)}:\${${id()}}\`);`,
    `  if (!${id()} || ${id()}.length > ${r.int(2, 4096)}) {`,
    `    throw new Error("${cap(r.pick(IDENT))} ${r.pick(EN.verb)} ${r.pick(EN.adv)}: " + ${id()});`,
    "  }",
    `  for (let i = 0; i < ${id()}.length; i++) {`,
    `    ${id()}[i] = Math.min(${id()}[i] ?? 0, ${r.int(1, 999)}); // clamp`,
    "  }",
    `  return { ok: true, ${id()}, ${id()}: ${id()} * ${r.int(2, 60)} };`,
    "}",
  ];
  return `\`\`\`ts\n${lines.join("\n")}\n\`\`\``;
}

function technicalMarkdown(r: Rand, sections: number): string {
  const section = (i: number) =>
    `## ${i + 1}. ${cap(r.pick(IDENT))} ${r.pick(IDENT)} handling\n\n` +
    `${englishSentence(r)} Call \`${identifier(r)}()\` before \`${identifier(r)}\`; see ` +
    `[the docs](https://developers.example.com/${r.pick(IDENT)}/${r.pick(IDENT)}).\n\n` +
    times(r.int(2, 4), () => `- **${cap(r.pick(IDENT))}**: ${englishSentence(r)}\n`) +
    `\n${codeBlock(r)}\n\n` +
    "| key | default | notes |\n|-----|---------|-------|\n" +
    times(3, () => `| \`${identifier(r)}\` | ${r.int(0, 5000)} | ${r.pick(EN.adj)} ${r.pick(EN.noun)} |\n`);
  return times(sections, section, "\n");
}

function jsonValue(r: Rand, depth: number): unknown {
  if (depth <= 0 || r.chance(0.35)) {
    switch (r.int(0, 5)) {
      case 0:
        return r.int(0, 100000);
      case 1:
        return Math.round(r.int(0, 1_000_000) * 1.37) / 100;
      case 2:
        return r.chance(0.5);
      case 3:
        return null;
      case 4:
        return `${r.pick(EN.adj)} ${r.pick(EN.noun)}`;
      default:
        return `${r.pick(IDENT)}_${r.int(100, 99999)}`;
    }
  }
  if (r.chance(0.4)) return Array.from({ length: r.int(1, 5) }, () => jsonValue(r, depth - 1));
  const object: Record<string, unknown> = {};
  for (let i = r.int(2, 5); i > 0; i--) object[identifier(r)] = jsonValue(r, depth - 1);
  return object;
}

function json(r: Rand, records: number, indent?: number): string {
  const record = (i: number) => ({
    id: i + 1,
    createdAt: `2025-${pad(r.int(1, 12))}-${pad(r.int(1, 28))}T${pad(r.int(0, 23))}:${pad(r.int(0, 59))}:00Z`,
    ...(jsonValue(r, 3) as object),
  });
  return JSON.stringify(
    Array.from({ length: records }, (_, i) => record(i)),
    null,
    indent,
  );
}

const HOSTS = [
  "example",
  "docs.cloudflare",
  "api.github",
  "news.ycombinator",
  "en.wikipedia",
  "storage.googleapis",
  "cdn.jsdelivr",
  "my-shop",
];
const TLDS = [".com", ".org", ".io", ".dev", ".co.uk", ".de", ".jp"];

function urlList(r: Rand, n: number): string {
  const segment = () =>
    `/${r.chance(0.3) ? r.int(1, 99999) : r.pick([...IDENT, ...EN.noun])}${r.chance(0.2) ? `-${r.pick(EN.adj)}` : ""}`;
  const query = () => (r.chance(0.5) ? `?${r.pick(IDENT)}=${r.int(1, 5000)}&utm_source=${r.pick(HOSTS)}` : "");
  return times(n, () => `- https://${r.pick(HOSTS)}${r.pick(TLDS)}${times(r.int(1, 4), segment)}${query()}\n`);
}

const SPANISH = [
  "El ingeniero revisó la configuración del servidor antes de la reunión.",
  "¿Por qué la biblioteca municipal cierra tan temprano los domingos?",
  "Nuestra empresa desarrolló una aplicación para gestionar pedidos y facturas.",
  "Después de la tormenta, los vecinos limpiaron juntos las calles del pueblo.",
  "La investigación demostró que el algoritmo consume demasiada memoria.",
  "Mañana viajaremos a Valparaíso para visitar a la familia de Ana.",
  "No entiendo cómo funciona la autenticación, ¿podrías explicármelo otra vez?",
  "Los estudiantes presentaron sus proyectos con entusiasmo y mucha creatividad.",
  "El gobierno anunció nuevas medidas económicas para las pequeñas empresas.",
  "Según el informe, la temperatura media aumentó casi dos grados.",
  "Hay que actualizar la documentación técnica cuando cambie la interfaz.",
  "¡Qué sorpresa verte aquí después de tantos años!",
];

const GERMAN = [
  "Die Donaudampfschifffahrtsgesellschaft veröffentlichte gestern ihren Jahresbericht.",
  "Könnten Sie mir bitte erklären, warum die Datenbankverbindung ständig abbricht?",
  "Unsere Entwicklungsabteilung arbeitet an einer neuen Benutzeroberfläche.",
  "Im Frühling blühen die Apfelbäume entlang der Straße besonders schön.",
  "Die Geschwindigkeitsbegrenzung auf der Autobahn wurde heftig diskutiert.",
  "Nach der Besprechung schickte die Projektleiterin eine ausführliche Zusammenfassung.",
  "Ich habe das Gefühl, dass wir die Anforderungen falsch verstanden haben.",
  "Der Straßenbahnfahrer grüßte freundlich jeden einzelnen Fahrgast.",
  "Die Versicherungsgesellschaft lehnte den Schadensersatzanspruch überraschend ab.",
  "Wir müssen die Sicherheitsüberprüfung vor dem Wochenende abschließen.",
  "Übrigens: Die Bäckerei gegenüber verkauft ausgezeichnete Brötchen.",
];

const JAPANESE = [
  "東京の天気は今日とても良いです。",
  "新しいアプリケーションを開発するために、チームは毎日会議を開いています。",
  "私は昨日、友達と一緒に図書館へ行きました。",
  "このサーバーの設定を変更する前に、必ずバックアップを取ってください。",
  "日本語の文章は、ひらがなとカタカナと漢字を組み合わせて書かれます。",
  "彼女はコーヒーを飲みながら、静かに本を読んでいた。",
  "データベースの接続がタイムアウトしました。もう一度試してください。",
  "春になると、公園の桜がとてもきれいに咲きます。",
  "この問題について、もう少し詳しく説明していただけませんか？",
  "駅から会社まで歩いて十五分ぐらいかかります。",
  "エンジニアたちは新しいアルゴリズムの性能を測定しました。",
];

const CHINESE = [
  "今天的天气非常好，我们一起去公园散步吧。",
  "这个系统的性能问题主要来自数据库查询。",
  "我昨天在图书馆看了一本关于历史的书。",
  "请在修改服务器配置之前备份所有数据。",
  "人工智能技术正在改变我们的工作方式和生活习惯。",
  "他一边喝茶，一边安静地听音乐。",
  "这家公司的新产品在市场上受到了广泛欢迎。",
  "如果你有任何问题，请随时联系我们的客服人员。",
  "研究人员发现，这种算法可以显著降低内存消耗。",
  "春天来了，山上的花都开了，景色十分美丽。",
  "我们需要在周末之前完成安全检查。",
];

const KOREAN = [
  "오늘 날씨가 정말 좋아서 공원에 산책하러 갔어요.",
  "새로운 애플리케이션을 개발하기 위해 팀이 매일 회의를 합니다.",
  "서버 설정을 변경하기 전에 반드시 데이터를 백업하세요.",
  "저는 어제 친구와 함께 도서관에 갔습니다.",
  "이 문제에 대해 좀 더 자세히 설명해 주시겠어요?",
  "연구원들은 새로운 알고리즘의 성능을 측정했습니다.",
  "봄이 되면 벚꽃이 아주 아름답게 핍니다.",
  "데이터베이스 연결 시간이 초과되었습니다. 다시 시도해 주세요.",
  "그녀는 커피를 마시면서 조용히 책을 읽고 있었다.",
  "우리는 주말 전에 보안 점검을 끝내야 합니다.",
];

const RUSSIAN = [
  "Привет, как дела? Сегодня хорошая погода.",
  "Инженер проверил настройки сервера перед совещанием.",
  "Библиотека закрывается рано по воскресеньям.",
  "Исследование показало, что алгоритм потребляет слишком много памяти.",
  "Завтра мы поедем в Санкт-Петербург к бабушке.",
  "Пожалуйста, обновите документацию после изменения интерфейса.",
];

const ARABIC = [
  "مرحبا كيف حالك اليوم؟",
  "قام المهندس بمراجعة إعدادات الخادم قبل الاجتماع.",
  "تغلق المكتبة مبكرا يوم الأحد.",
  "أظهرت الدراسة أن الخوارزمية تستهلك الكثير من الذاكرة.",
];

const HINDI = [
  "नमस्ते, आप कैसे हैं?",
  "इंजीनियर ने बैठक से पहले सर्वर की सेटिंग्स की जांच की।",
  "पुस्तकालय रविवार को जल्दी बंद हो जाता है।",
  "कृपया इंटरफ़ेस बदलने के बाद दस्तावेज़ अपडेट करें।",
];

/** n sentences drawn from a pool, a paragraph break after every fourth. */
const sentences = (r: Rand, pool: readonly string[], n: number, sep: string): string =>
  times(n, (i) => r.pick(pool) + ((i + 1) % 4 === 0 ? "\n\n" : sep)).trimEnd();

function numbersHeavy(r: Rand, rows: number): string {
  const row = () =>
    `20${r.int(10, 25)}-${pad(r.int(1, 12))}-${pad(r.int(1, 28))},${r.int(100000, 99999999)},` +
    `${r.int(0, 99999)}.${pad(r.int(0, 99))},${r.int(0, 100)}.${r.int(0, 9999)}%,` +
    `+${r.int(1, 99)} ${r.int(100, 999)} ${r.int(1000, 9999)},${r.int(1, 1000000)}\n`;
  return (
    `date,account,amount,rate,phone,quantity\n${times(rows, row)}` +
    `Total: ${r.int(1, 9)},${r.int(100, 999)},${r.int(100, 999)}.${r.int(10, 99)} across ${rows} rows; ` +
    "π ≈ 3.14159265358979; 2^64 = 18446744073709551616.\n"
  );
}

const EMOJI = [
  "😀",
  "😂",
  "🎉",
  "🔥",
  "👍",
  "🚀",
  "❤️",
  "🙏",
  "✨",
  "🤔",
  "😅",
  "💡",
  "🐛",
  "✅",
  "❌",
  "🇯🇵",
  "👩‍💻",
  "👨‍👩‍👧",
  "🥳",
  "☕",
];

function emojiChat(r: Rand, lines: number): string {
  const words = [...EN.noun, ...EN.adj, ...EN.verb, "lol", "yes", "ok", "ship", "it"];
  return times(
    lines,
    () =>
      `${cap(times(r.int(2, 9), () => r.pick(words), " "))} ${times(r.int(1, 4), () => r.pick(EMOJI))}${r.chance(0.3) ? "!!" : ""}\n`,
  );
}

function whitespaceHeavy(r: Rand, lines: number): string {
  const indents = ["", "  ", "    ", "        ", "            ", "\t", "\t\t", "\t\t\t"];
  const line = () => {
    const body = r.chance(0.2)
      ? ""
      : `${identifier(r)}${" ".repeat(r.int(1, 24))}= ${r.int(0, 999)};${r.chance(0.3) ? " ".repeat(r.int(1, 6)) : ""}`;
    return `${r.pick(indents)}${body}${r.chance(0.25) ? "\n\n\n" : "\n"}`;
  };
  return times(lines, line);
}

const LONG_WORDS = [
  "Donaudampfschifffahrtsgesellschaftskapitän",
  "pneumonoultramicroscopicsilicovolcanoconiosis",
  "antidisestablishmentarianism",
  "supercalifragilisticexpialidocious",
  "Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz",
  "electroencephalographically",
  "internationalization",
  "incomprehensibilities",
  "ConfigurationServiceProviderFactoryBean",
  "hippopotomonstrosesquippedaliophobia",
];

function opaqueIds(r: Rand, lines: number): string {
  const draw = (alphabet: string, n: number) => times(n, () => alphabet.charAt(r.int(0, alphabet.length - 1)));
  const hex = "0123456789abcdef";
  const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const line = () =>
    `id=${draw(hex, 8)}-${draw(hex, 4)}-${draw(hex, 4)}-${draw(hex, 4)}-${draw(hex, 12)} sha=${draw(hex, 40)} ` +
    `integrity="sha512-${draw(b64, 86)}=="\n`;
  return times(lines, line);
}

type Sample = { name: string; text: string; tolerance: number };

// Tolerances. ±20% for Latin-script and ASCII-structured text: each o200k pre-token is one piece here, so
// the error comes only from how many tokens a piece splits into, and real files (this repo's docs and
// code, translated READMEs) measure within about ±10%. ±30% for CJK, JSON, emoji and other scripts, where
// the per-character rates depend on which characters are common. Opaque ids (hex, base64) are the known
// weak spot — random letters split into ~2-letter tokens — so they only have to land within ±40%.
const LATIN = 0.2;
const WIDE = 0.3;
const OPAQUE = 0.4;

function buildCorpus(): Sample[] {
  const r = rand(20251125);
  return [
    { name: "English prose", text: englishProse(r, 8), tolerance: LATIN },
    { name: "technical markdown", text: technicalMarkdown(r, 4), tolerance: LATIN },
    { name: "JSON, indented", text: json(r, 8, 2), tolerance: WIDE },
    { name: "JSON, minified", text: json(r, 8), tolerance: WIDE },
    { name: "URL list", text: urlList(r, 30), tolerance: LATIN },
    { name: "Spanish", text: sentences(r, SPANISH, 24, " "), tolerance: LATIN },
    { name: "German", text: sentences(r, GERMAN, 22, " "), tolerance: LATIN },
    { name: "Japanese", text: sentences(r, JAPANESE, 24, ""), tolerance: WIDE },
    { name: "Chinese", text: sentences(r, CHINESE, 24, ""), tolerance: WIDE },
    { name: "Korean", text: sentences(r, KOREAN, 24, " "), tolerance: WIDE },
    { name: "Russian", text: sentences(r, RUSSIAN, 24, " "), tolerance: WIDE },
    { name: "Arabic", text: sentences(r, ARABIC, 24, " "), tolerance: WIDE },
    { name: "Hindi", text: sentences(r, HINDI, 24, " "), tolerance: WIDE },
    { name: "numbers (CSV)", text: numbersHeavy(r, 20), tolerance: LATIN },
    { name: "emoji chat", text: emojiChat(r, 25), tolerance: WIDE },
    { name: "whitespace-heavy code", text: whitespaceHeavy(r, 50), tolerance: LATIN },
    { name: "single long words", text: times(30, () => r.pick(LONG_WORDS), " "), tolerance: LATIN },
    { name: "opaque ids (hex, base64)", text: opaqueIds(r, 6), tolerance: OPAQUE },
  ];
}

const corpus = buildCorpus().map((sample) => {
  const truth = countTokens(sample.text);
  const estimate = estimateTokens(sample.text);
  return { ...sample, truth, estimate, error: (estimate - truth) / truth };
});

const percent = (x: number): string => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}%`;
const table = corpus
  .map(
    (s) => `${s.name.padEnd(26)} ${String(s.truth).padStart(6)} ${String(s.estimate).padStart(6)} ${percent(s.error)}`,
  )
  .join("\n");

// ---------------------------------------------------------------------------------------------------------
// Tests

describe("estimateTokens against o200k_base", () => {
  it("every corpus sample is at least 200 real tokens, so relative errors are not rounding noise", () => {
    for (const sample of corpus) expect(sample.truth, sample.name).toBeGreaterThanOrEqual(200);
  });

  it.each(corpus)("$name: within its tolerance", ({ name, truth, estimate, error, tolerance }) => {
    const detail = `${name}: o200k ${truth}, estimate ${estimate} (${percent(error)}, allowed ±${100 * tolerance}%)`;
    expect(Math.abs(error), detail).toBeLessThanOrEqual(tolerance);
  });

  it("the whole corpus within ±10%, and the mean per-sample error within ±8%", () => {
    const truth = corpus.reduce((sum, s) => sum + s.truth, 0);
    const estimate = corpus.reduce((sum, s) => sum + s.estimate, 0);
    const meanAbsolute = corpus.reduce((sum, s) => sum + Math.abs(s.error), 0) / corpus.length;
    const detail = `\n${table}\ntotal o200k ${truth}, estimate ${estimate}; mean |error| ${percent(meanAbsolute)}`;
    expect(Math.abs(estimate - truth) / truth, detail).toBeLessThanOrEqual(0.1);
    expect(meanAbsolute, detail).toBeLessThanOrEqual(0.08);
  });

  it("short chat-sized strings land within 2 tokens", () => {
    const short = [
      "Hello",
      "Hi! How are you?",
      "What's the weather like in Paris tomorrow?",
      "Summarize this: the meeting moved to 3:30pm on 2025-11-26.",
      "¿Dónde está la estación de tren?",
      "Wie spät ist es?",
      "東京駅はどこですか？",
      "谢谢你的帮助。",
      "감사합니다!",
      "Спасибо большое!",
      "👍",
      "Great job 🎉🎉",
      '{"ok":true,"count":42}',
      "https://example.com/a/b?c=1",
      "getUserAccountBalance()",
      "    return x;\n",
      "1234567890",
    ];
    for (const text of short) {
      const truth = countTokens(text);
      expect(Math.abs(estimateTokens(text) - truth), `${JSON.stringify(text)}: o200k ${truth}`).toBeLessThanOrEqual(2);
    }
  });
});

describe("estimateTokens basics", () => {
  it("is 0 for the empty string and at least 1 for anything else", () => {
    expect(estimateTokens("")).toBe(0);
    for (const text of [" ", "\n", "a", "中", "—", "\u0000", "\u0301", "\ud83d"]) {
      expect(estimateTokens(text), JSON.stringify(text)).toBe(1);
    }
  });

  it("counts o200k's obvious cases exactly", () => {
    expect(estimateTokens("hello world")).toBe(2);
    expect(estimateTokens("123456789")).toBe(3); // digits go in groups of three
    expect(estimateTokens("1234")).toBe(2);
    expect(estimateTokens("getUserName")).toBe(3); // split at case changes
    expect(estimateTokens("\n\n\n")).toBe(1);
  });

  it("charges long words by length, not as one token", () => {
    expect(estimateTokens("internationalization")).toBeGreaterThan(1);
    expect(estimateTokens("pneumonoultramicroscopicsilicovolcanoconiosis")).toBeGreaterThanOrEqual(8);
  });

  it("is a non-negative integer for any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        const estimate = estimateTokens(text);
        expect(Number.isInteger(estimate)).toBe(true);
        expect(estimate).toBeGreaterThanOrEqual(text === "" ? 0 : 1);
        expect(estimate).toBeLessThanOrEqual(text.length);
      }),
      { numRuns: 500 },
    );
  });

  // Fragments picked to sit on every piece boundary: case changes, word prefixes, CJK next to Latin,
  // combining marks, ZWJ and flag halves, lone surrogates, whitespace next to newlines.
  // biome-ignore format: a list of fragments
  const fragment = fc.constantFrom(
    ..."a b z Q é Ж ß ª 中 国 の カ ー 한 글 ا क ि 0 7 . ' \" { } - / ! — € ☕".split(" "),
    " ", "  ", "\n", "\r\n", "\t", "\u00a0", "😀", "🇯", "🇵", "\u200d", "\ufe0f", "\u0301", "\u0000", "\ud83d",
    "Word", "URL", "getX", "\n    ", "1234", "```",
  );

  it("never decreases when text is appended (random fragments)", () => {
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 40 }), fc.array(fragment, { maxLength: 12 }), (a, b) => {
        const head = a.join("");
        expect(estimateTokens(head + b.join(""))).toBeGreaterThanOrEqual(estimateTokens(head));
      }),
      { numRuns: 2000 },
    );
  });

  it("never decreases when text is appended (random Unicode)", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 80 }),
        fc.string({ unit: "binary", maxLength: 20 }),
        (a, b) => {
          expect(estimateTokens(a + b)).toBeGreaterThanOrEqual(estimateTokens(a));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("never decreases along every prefix of the corpus samples", () => {
    for (const { name, text } of corpus) {
      const points = Array.from(text).slice(0, 400);
      let previous = 0;
      let prefix = "";
      for (const point of points) {
        prefix += point;
        const estimate = estimateTokens(prefix);
        expect(estimate, `${name} at ${JSON.stringify(prefix.slice(-20))}`).toBeGreaterThanOrEqual(previous);
        previous = estimate;
      }
    }
  });

  it("stays linear on large and adversarial inputs", () => {
    const cases: [string, number, number][] = [
      [" ", 1_000_000, 1 / 24],
      ["\n  ", 300_000, 1 / 24],
      ["\t\n", 500_000, 1 / 24],
      [" x", 500_000, 1 / 2],
      ["a", 1_000_000, 2 / 7],
      ["A", 1_000_000, 2 / 7],
      ["aB", 500_000, 1 / 2],
      ["中", 500_000, 0.6],
      ["1", 999_999, 1 / 3],
      ["😀", 300_000, 1.7 / 2],
      ["!?", 500_000, 1 / 12],
    ];
    for (const [unit, repeat, perUnit] of cases) {
      const text = `${unit.repeat(repeat)}.`; // the final "." gets trailing whitespace charged
      const estimate = estimateTokens(text);
      // The per-unit rate of its rule, within 1% (per-piece constants aside).
      expect(Math.abs(estimate / (text.length * perUnit) - 1), JSON.stringify(unit)).toBeLessThan(0.01);
    }
    expect(estimateTokens(" ".repeat(1_000_000))).toBe(1); // whitespace alone
  });
});

describe("estimateChatTokens", () => {
  const chat = [
    { role: "system", content: "You are a concise assistant." },
    { role: "user", content: "Hello" },
    { role: "assistant", content: "Hi! How can I help?" },
    { role: "user", content: "Translate to Japanese: good morning" },
  ];

  it("adds the per-message overhead and the reply priming to the contents", () => {
    const contents = chat.reduce((sum, m) => sum + estimateTokens(m.content), 0);
    expect(estimateChatTokens(chat)).toBe(contents + chat.length * CHAT_TOKENS_PER_MESSAGE + CHAT_REPLY_PRIMING_TOKENS);
    expect(estimateChatTokens([])).toBe(CHAT_REPLY_PRIMING_TOKENS);
  });

  it("uses the same overhead as gpt-tokenizer's gpt-4o chat encoding", () => {
    expect(encodeChat([], "gpt-4o").length).toBe(CHAT_REPLY_PRIMING_TOKENS);
    const oneWord = [
      { role: "system", content: "Hello" },
      { role: "user", content: "Thanks" },
      { role: "assistant", content: "Sure" },
    ];
    for (const m of oneWord) expect(countTokens(m.content)).toBe(1);
    expect(estimateChatTokens(oneWord)).toBe(encodeChat(oneWord, "gpt-4o").length);
    expect(Math.abs(estimateChatTokens(chat) - encodeChat(chat, "gpt-4o").length)).toBeLessThanOrEqual(3);
  });

  it("tracks a long multilingual conversation within ±10%", () => {
    const roles = ["system", "user", "assistant"];
    const conversation = corpus.map((s, i) => ({ role: roles[i % 3]!, content: s.text }));
    const truth = encodeChat(conversation, "gpt-4o").length;
    const estimate = estimateChatTokens(conversation);
    expect(Math.abs(estimate - truth) / truth, `o200k ${truth}, estimate ${estimate}`).toBeLessThanOrEqual(0.1);
  });
});
