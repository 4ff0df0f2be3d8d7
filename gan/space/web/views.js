// A view as a link, as gan.serving.views reads one: the tab and its inputs in the page's hash
// (`#tab=explore&digit=2&seed=7&psi=0.8&slant=1.5`), each field checked by the rules the
// export wrote into site.json ("views": view_spec(directions), with its fields, defaults and
// limits), bad fields at their defaults and the problems in Python's words. A link's text is
// read as Python reads it (int(), then float(), after str.strip()) and a refused value is
// quoted as Python's repr() quotes it, so the page's message is parse_view's, letter for letter.

/** Python's str.isspace() characters (what str.strip() and int()/float() strip). */
const PY_SPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" +
                 "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
const LINK_MESSAGE = "This link had values the demo cannot show, so defaults stand in: ";

/** Python's str.strip(). */
export function pyStrip(text) {
  const chars = Array.from(text);
  let start = 0, end = chars.length;
  while (start < end && PY_SPACE.includes(chars[start])) start++;
  while (end > start && PY_SPACE.includes(chars[end - 1])) end--;
  return chars.slice(start, end).join("");
}

const DIGIT = /\p{Nd}/u;

/** The value of a Unicode decimal digit: Nd characters come in runs of whole tens from 0. */
function digitValue(ch) {
  let cp = ch.codePointAt(0), run = 0;
  while (DIGIT.test(String.fromCodePoint(cp - 1))) { cp--; run++; }
  return run % 10;
}

/** What int() and float() parse: other spaces as ' ', any decimal digit as its ASCII digit. */
function asciiNumberText(text) {
  let out = "";
  for (const ch of text) {
    if (ch.codePointAt(0) < 128) out += ch;
    else if (PY_SPACE.includes(ch)) out += " ";
    else if (DIGIT.test(ch)) out += String(digitValue(ch));
    else out += "?";
  }
  return out;
}

const INT_TEXT = /^[+-]?[0-9](?:_?[0-9])*$/;
const FLOAT_TEXT = /^[+-]?(?:(?:[0-9](?:_?[0-9])*)?\.[0-9](?:_?[0-9])*|[0-9](?:_?[0-9])*\.?)(?:[eE][+-]?[0-9](?:_?[0-9])*)?$/;
const SPECIAL_FLOAT = /^([+-]?)(inf|infinity|nan)$/i;

/** A typed value as Python would hold it: {int: BigInt}, {float: number} or a string. */
export class PyInt { constructor(big) { this.big = big; } }
export class PyFloat { constructor(value) { this.value = value; } }

/** gan.serving.views._number: the number a link's text spells (int() first, then float()),
 * else the text itself. `maxIntDigits`: Python's limit on int() of a decimal string. */
export function pyNumber(text, maxIntDigits) {
  const ascii = pyStrip(asciiNumberText(pyStrip(text)));
  if (INT_TEXT.test(ascii) && ascii.replace(/[^0-9]/g, "").length <= maxIntDigits) {
    return new PyInt(BigInt(ascii.replace(/_/g, "")));
  }
  const special = SPECIAL_FLOAT.exec(ascii);
  if (special) {
    const value = special[2].toLowerCase() === "nan" ? NaN : Infinity;
    return new PyFloat(special[1] === "-" ? -value : value);
  }
  if (FLOAT_TEXT.test(ascii)) return new PyFloat(Number(ascii.replace(/_/g, "")));
  return text;
}

/** Python's repr() of a float. */
export function pyFloatRepr(x) {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mantissa, exponent] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", ""), e = Number(exponent);
  if (e >= -4 && e < 16) {
    if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
    const whole = digits.slice(0, e + 1).padEnd(e + 1, "0"), fraction = digits.slice(e + 1) || "0";
    return `${sign}${whole}.${fraction}`;
  }
  const body = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${body}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}

/** Python's format(x, "g"). */
export function pyFormatG(x) {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const [mantissa, exponent] = x.toExponential(5).split("e");
  const e = Number(exponent);
  const strip = (s) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
  if (e >= -4 && e < 6) return strip(x.toFixed(5 - e));
  return `${strip(mantissa)}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}

const hex = (cp, width) => cp.toString(16).padStart(width, "0");
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Python's repr() of a str. */
export function pyStrRepr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (cp < 0x20 || cp === 0x7f) out += "\\x" + hex(cp, 2);
    else if (cp < 0x7f || !UNPRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += "\\x" + hex(cp, 2);
    else if (cp <= 0xffff) out += "\\u" + hex(cp, 4);
    else out += "\\U" + hex(cp, 8);
  }
  return out + quote;
}

const grouped = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** gan.inputs.shown: repr(value), cut to `limit` characters. */
export function pyShown(value, limit) {
  const text = value instanceof PyInt ? value.big.toString()
    : value instanceof PyFloat ? pyFloatRepr(value.value)
      : typeof value === "string" ? pyStrRepr(value) : String(value);
  const chars = Array.from(text);
  return chars.length <= limit ? text : `${chars.slice(0, limit).join("")}... (${grouped(chars.length)} characters)`;
}

/** A field's refusal: what is allowed, as gan.inputs says it. */
class Refused extends Error {}

/** gan.serving.views._text: a value as a link writes it. */
export function linkText(value) {
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return Math.abs(value) < 1e6 ? pyFormatG(value) : BigInt(value).toString();
  return pyFloatRepr(value);
}

/** The views of site.json ("views": gan.serving.views.view_spec) with the page's constants. */
export class Views {
  constructor(spec, constants) {
    if (!spec || typeof spec.tabs !== "object") throw new Error("site.json has no views; export the site again");
    this.spec = spec;
    this.tabs = Object.keys(spec.tabs);
    this.steered = spec.steered_tabs;
    this.directions = spec.directions;
    this.maxShown = constants.inputs.max_shown;
    this.maxLatentText = constants.views.max_latent_text;
    this.maxIntDigits = constants.python.int_max_str_digits;
  }

  has(tab) { return Object.hasOwn(this.spec.tabs, tab); }
  fields(tab) { return this.spec.tabs[tab]; }

  /** gan.serving.views.defaults. */
  defaults(tab) {
    return Object.fromEntries(Object.entries(this.fields(tab)).map(([name, field]) => [name, field.default]));
  }

  shown(value) { return pyShown(value, this.maxShown); }

  /** gan.serving.views.Field.check: the value a link's text gives `field`, or Refused. */
  check(field, name, text) {
    const label = field.label || name;
    if (field.kind === "int") {
      const value = pyNumber(text, this.maxIntDigits);
      const whole = value instanceof PyInt ? value.big
        : value instanceof PyFloat && Number.isInteger(value.value) ? BigInt(value.value) : null;
      if (whole !== null && whole >= BigInt(field.minimum) && whole <= BigInt(field.maximum)) return Number(whole);
      throw new Refused(`${label} must be a whole number from ${field.minimum} to ${field.maximum}, got ${this.shown(value)}`);
    }
    if (field.kind === "float") {
      const value = pyNumber(text, this.maxIntDigits);
      const number = value instanceof PyInt ? Number(value.big) : value instanceof PyFloat ? value.value : NaN;
      if (Number.isFinite(number) && number >= field.minimum && number <= field.maximum) return number;
      throw new Refused(`${label} must be a number from ${pyFormatG(field.minimum)} to ${pyFormatG(field.maximum)}, ` +
                        `got ${this.shown(value)}`);
    }
    if (field.kind === "choice") {
      if (field.choices.includes(text)) return text;
      throw new Refused(`${label} must be one of ${field.choices.map(pyStrRepr).join(", ")}, got ${this.shown(text)}`);
    }
    const length = Array.from(text).length;
    if (length > 0 && length <= this.maxLatentText) return text;
    throw new Refused(`${label} must be a latent's text (from Draw's latent box) of at most ${this.maxLatentText} ` +
                      `characters, got ${this.shown(text)}`);
  }

  /** gan.serving.views.parse_view: `entries` are the link's [name, text] pairs in order (a
   * name given twice keeps its first place and its last text, as a dict of them does). Null
   * when they name no view; else {tab, values, strengths, problems, message}. */
  parse(entries) {
    const query = new Map();
    for (const [name, text] of entries) query.set(String(name), String(text));
    const known = new Set(["tab", ...this.tabs.flatMap((tab) => Object.keys(this.fields(tab)))]);
    if (![...query.keys()].some((name) => known.has(name))) return null;
    const problems = [];
    let tab = query.has("tab") ? query.get("tab") : this.tabs[0];
    query.delete("tab");
    if (!this.has(tab)) {
      problems.push(`tab must be one of ${this.tabs.join(", ")}, got ${this.shown(tab)}`);
      tab = this.tabs[0];
    }
    const fields = this.fields(tab), values = this.defaults(tab), strengths = {};
    const checked = (field, name, text, fallback) => {
      try { return this.check(field, name, text); } catch (error) {
        if (!(error instanceof Refused)) throw error;
        problems.push(error.message);
        return fallback;
      }
    };
    const steered = this.steered.includes(tab);
    for (const [name, text] of query) {
      if (Object.hasOwn(fields, name)) {
        values[name] = checked(fields[name], name, text, values[name]);
      } else if (steered && this.directions.includes(name)) {
        strengths[name] = checked(this.spec.strength, `strength of ${name}`, text, 0);
      } else if (steered) {
        problems.push(`${this.shown(name)} is not a direction of these weights (they have ` +
                      `${this.directions.join(", ") || "none"})`);
      } else {
        problems.push(`${this.shown(name)} is not an input of the ${tab} tab (it has ${Object.keys(fields).join(", ")})`);
      }
    }
    const nonZero = Object.fromEntries(Object.entries(strengths).filter(([, v]) => v !== 0));
    return { tab, values, strengths: nonZero, problems, message: problemsMessage(problems) };
  }

  /** gan.serving.views.view_query: the link's parameters of a view (its tab's fields that have
   * a value, then the non-zero strengths by name). */
  query(tab, values, strengths = {}) {
    const pairs = [["tab", tab]];
    for (const name of Object.keys(this.fields(tab))) {
      const value = values[name] ?? this.fields(tab)[name].default;
      if (value !== null && value !== undefined) pairs.push([name, linkText(value)]);
    }
    if (this.steered.includes(tab)) {
      for (const [name, strength] of Object.entries(strengths)) if (strength) pairs.push([name, linkText(strength)]);
    }
    return new URLSearchParams(pairs).toString();
  }
}

/** gan.serving.views.ParsedView.message. */
export function problemsMessage(problems) {
  return problems.length ? LINK_MESSAGE + problems.join("; ") : "";
}

/** A hash (with or without its '#') as the [name, text] pairs of a query string. */
export function hashEntries(hash) {
  return [...new URLSearchParams(hash.replace(/^#/, "")).entries()];
}
