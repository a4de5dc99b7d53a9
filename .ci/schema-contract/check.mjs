// The schema contract, checked with graphql-inspector (run by .ci/run):
//
//   every breaking change between two consecutive released schemas (schema/releases/<version>.graphql)
//   is listed in that version's "### Breaking" section of CHANGELOG.md, and every breaking change
//   between the last release and schema.graphql is listed under "## [Unreleased]" -> "### Breaking".
//
// "Listed" means the change's path, as graphql-inspector names it (a type `ImagePayload`, a field
// `Image.virtualSizeBytes`, an argument `Mutation.startInstance.input`, an enum value
// `ErrorCode.FOO`), appears as a whole name in an entry of that section (a list item), and every
// entry of a Breaking section says what to do about it ("Migration:"). Each release in the
// CHANGELOG has its schema file.
//
//   node .ci/schema-contract/check.mjs               check the repository
//   node .ci/schema-contract/check.mjs --self-test   prove the check fails when it should
//   options: --schema FILE --changelog FILE --releases DIR (scratch copies instead of the tree's)
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const { diff, CriticalityLevel } = require("@graphql-inspector/core");
const { buildSchema, parse, print, visit } = require("graphql");

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const VERSION = /^(\d+)\.(\d+)\.(\d+)$/;

function options(argv) {
  const found = {
    schema: join(ROOT, "schema.graphql"),
    changelog: join(ROOT, "CHANGELOG.md"),
    releases: join(ROOT, "schema", "releases"),
    selfTest: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    if (flag === "--self-test") found.selfTest = true;
    else if (["--schema", "--changelog", "--releases"].includes(flag)) {
      found[flag.slice(2)] = resolve(argv[(i += 1)]);
    } else throw new Error(`unknown option ${flag}`);
  }
  return found;
}

function byVersion(a, b) {
  const [x, y] = [a.match(VERSION), b.match(VERSION)];
  for (let i = 1; i <= 3; i += 1) {
    if (Number(x[i]) !== Number(y[i])) return Number(x[i]) - Number(y[i]);
  }
  return 0;
}

/** The released versions whose schema is kept, oldest first. */
function releases(dir) {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".graphql"))
    .map((name) => name.slice(0, -".graphql".length))
    .filter((name) => VERSION.test(name))
    .sort(byVersion);
}

/** CHANGELOG.md's "## [...]" sections by name ("Unreleased", "0.2.0"), each with its text. */
function sections(text) {
  const found = new Map();
  const parts = text.split(/^## /m).slice(1);
  for (const part of parts) {
    const name = part.match(/^\[([^\]]+)\]/);
    if (name) found.set(name[1], part);
  }
  return found;
}

/** The "### Breaking" part of a section, or null. */
function breaking(section) {
  const parts = section.split(/^### /m).slice(1);
  const part = parts.find((p) => /^Breaking\s*$/m.test(p.split("\n", 1)[0]));
  return part === undefined ? null : part.slice(part.indexOf("\n") + 1);
}

/** The entries of a list, as written: each starts at a line "- " or "1. " and holds the lines
 * after it up to the next entry; a paragraph that is not indented and follows a blank line
 * belongs to no entry. */
function entries(text) {
  const found = [];
  let lines = null;
  let blanks = 0;
  for (const line of text.split("\n")) {
    if (/^(-|\*|\d+\.)\s/.test(line)) {
      lines = [line];
      found.push(lines);
      blanks = 0;
    } else if (!line.trim()) {
      blanks += 1;
    } else if (lines && (/^\s/.test(line) || blanks === 0)) {
      lines.push(...Array(blanks).fill(""), line);
      blanks = 0;
    } else {
      lines = null;
      blanks = 0;
    }
  }
  return found.map((l) => l.join("\n"));
}

function names(text, path) {
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  // a whole name: `Mutation.startInstance` is not named by `Mutation.startInstance.input`,
  // `ListingPayload` not by `CreateListingPayload`; a full stop may end a sentence after it
  return new RegExp(`(?<![A-Za-z0-9_.@])${escaped}(?!\\.?[A-Za-z0-9_])`).test(text);
}

async function compare(oldSdl, newSdl) {
  const changes = await diff(buildSchema(oldSdl), buildSchema(newSdl));
  const level = (l) => changes.filter((c) => c.criticality.level === l);
  return { all: changes, breaking: level(CriticalityLevel.Breaking), dangerous: level(CriticalityLevel.Dangerous) };
}

/** Every problem of the contract, as lines; an empty list when it holds. */
async function check({ schema, changelog, releases: dir }, log = console.log) {
  const problems = [];
  const text = readFileSync(changelog, "utf8");
  const byName = sections(text);
  const versions = releases(dir);
  if (!byName.has("Unreleased")) problems.push('CHANGELOG.md has no "## [Unreleased]" section');
  for (const name of byName.keys()) {
    if (name !== "Unreleased" && !versions.includes(name)) {
      problems.push(`CHANGELOG.md has a section [${name}] but schema/releases/${name}.graphql is missing`);
    }
  }
  const steps = versions.slice(1).map((version, i) => [versions[i], version]);
  if (versions.length) steps.push([versions[versions.length - 1], "Unreleased"]);
  for (const [from, to] of steps) {
    const oldSdl = readFileSync(join(dir, `${from}.graphql`), "utf8");
    const newSdl = to === "Unreleased" ? readFileSync(schema, "utf8") : readFileSync(join(dir, `${to}.graphql`), "utf8");
    const target = to === "Unreleased" ? "schema.graphql" : to;
    const { all, breaking: broken, dangerous } = await compare(oldSdl, newSdl);
    log(`${from} -> ${target}: ${all.length} changes, ${broken.length} breaking, ${dangerous.length} dangerous`);
    if (to === "Unreleased") for (const change of dangerous) log(`  dangerous: ${change.message}`);
    const section = byName.get(to);
    if (section === undefined) {
      if (to !== "Unreleased") problems.push(`CHANGELOG.md has no section [${to}]`);
      continue;
    }
    const listed = entries(breaking(section) ?? "");
    for (const entry of listed) {
      if (!entry.includes("Migration:")) {
        problems.push(`[${to}] Breaking: an entry says no "Migration:": ${entry.split("\n")[0].slice(0, 100)}`);
      }
    }
    for (const change of broken) {
      const path = change.path ?? change.type;
      const ok = listed.some((entry) => names(entry, path));
      log(`  ${ok ? "listed  " : "MISSING "} ${path}: ${change.message}`);
      if (!ok) {
        problems.push(`breaking change ${from} -> ${target} not listed under [${to}] "### Breaking" as \`${path}\`: ${change.message}`);
      }
    }
  }
  return problems;
}

/** The SDL with one field of the Query type removed: a breaking change nobody listed. */
function withoutAQueryField(sdl) {
  let removed = null;
  const document = visit(parse(sdl), {
    ObjectTypeDefinition(node) {
      if (node.name.value !== "Query" || removed) return undefined;
      removed = `Query.${node.fields[0].name.value}`;
      return { ...node, fields: node.fields.slice(1) };
    },
  });
  return { sdl: print(document), removed };
}

/** Runs the check on scratch copies: as it is (passes), and broken two ways (each must fail). */
async function selfTest(paths) {
  const scratch = mkdtempSync(join(tmpdir(), "schema-contract-"));
  const quiet = () => {};
  const copy = {
    schema: join(scratch, "schema.graphql"),
    changelog: join(scratch, "CHANGELOG.md"),
    releases: join(scratch, "releases"),
  };
  const results = [];
  try {
    cpSync(paths.releases, copy.releases, { recursive: true });
    const sdl = readFileSync(paths.schema, "utf8");
    const changelog = readFileSync(paths.changelog, "utf8");
    const reset = () => {
      writeFileSync(copy.schema, sdl);
      writeFileSync(copy.changelog, changelog);
    };
    reset();
    results.push(["the tree as it is passes", (await check(copy, quiet)).length === 0]);

    const versions = releases(copy.releases);
    const last = versions[versions.length - 1];
    const previous = versions[versions.length - 2];
    const { breaking: broken } = previous
      ? await compare(
          readFileSync(join(copy.releases, `${previous}.graphql`), "utf8"),
          readFileSync(join(copy.releases, `${last}.graphql`), "utf8"),
        )
      : { breaking: [] };
    const parts = changelog.split(/^(?=## )/m);
    const at = parts.findIndex((p) => p.startsWith(`## [${last}]`));
    const listed = at === -1 ? [] : entries(breaking(parts[at]) ?? "");
    // every change only one entry names: without that entry it is listed nowhere, so it fails
    let caught = 0;
    let alone = 0;
    for (const change of broken) {
      const naming = listed.filter((e) => names(e, change.path));
      if (naming.length !== 1) continue;
      alone += 1;
      const copied = [...parts];
      copied[at] = copied[at].replace(`${naming[0]}\n`, "");
      writeFileSync(copy.changelog, copied.join(""));
      const problems = await check(copy, quiet);
      if (problems.some((p) => p.includes(`\`${change.path}\``))) caught += 1;
      else console.log(`  not caught: [${last}] without its entry for ${change.path}`);
    }
    reset();
    if (broken.length) {
      results.push([
        `[${last}]: each of the ${alone} breaking changes one entry names fails without it (${caught} did)`,
        alone > 0 && caught === alone,
      ]);
    }

    const { sdl: changed, removed } = withoutAQueryField(sdl);
    writeFileSync(copy.schema, changed);
    const problems = await check(copy, quiet);
    results.push([`schema.graphql without ${removed}, unlisted, fails`, problems.some((p) => p.includes(`\`${removed}\``))]);
    const added = changelog.replace(
      /(## \[Unreleased\][\s\S]*?### Breaking\s*\n)/,
      `$1\n- \`${removed}\` is removed. Migration: none (a scratch entry).\n`,
    );
    writeFileSync(copy.changelog, added);
    results.push([`... and passes once listed under Unreleased`, (await check(copy, quiet)).length === 0]);
    writeFileSync(copy.changelog, added.replace(" Migration: none (a scratch entry).", ""));
    const unsaid = await check(copy, quiet);
    results.push([`... but not when its entry says no migration`, unsaid.some((p) => p.includes('no "Migration:"'))]);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  for (const [what, ok] of results) console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  return results.every(([, ok]) => ok);
}

const paths = options(process.argv.slice(2));
if (paths.selfTest) {
  process.exit((await selfTest(paths)) ? 0 : 1);
}
const problems = await check(paths);
for (const problem of problems) console.error(`error: ${problem}`);
if (problems.length) {
  console.error(
    `\n${problems.length} problem(s). A breaking change needs an entry under CHANGELOG.md ` +
      '"## [Unreleased]" -> "### Breaking" naming its path and saying "Migration: ..." ' +
      "(or make the change additive instead).",
  );
  process.exit(1);
}
console.log("the schema contract holds");
