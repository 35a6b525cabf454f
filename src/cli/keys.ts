// `regplane keys create`: makes a random API key, prints it once, and prints the config entry that
// holds only its hash.
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { hashApiKey, newApiKey } from "../core/api-keys.js";

export const KEYS_HELP = `Usage: regplane keys create --name NAME --folders LIST [--role viewer|editor] [--hash sha256|scrypt]

Makes a new random API key and prints it once, with the entry to add under auth.keys in the config
file. regplane stores only the hash; callers send the key as "authorization: Bearer <key>".

Options:
  --name NAME       the principal: operations' created_by and the audit log name it
  --folders LIST    comma-separated folder ids the key may reach, or * for every folder
  --role ROLE       viewer (List, Get, Wait) or editor (also Create, Update, Delete, Cancel); default viewer
  --hash KIND       sha256 (default: the key is 256 random bits, so a fast hash is safe) or scrypt
`;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Runs `regplane keys …`; returns the exit code. */
export async function runKeysCommand(argv: string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        name: { type: "string" },
        folders: { type: "string" },
        role: { type: "string", default: "viewer" },
        hash: { type: "string", default: "sha256" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    err(`regplane keys: ${(e as Error).message}\n\n${KEYS_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(KEYS_HELP);
    return 0;
  }
  const problems: string[] = [];
  if (positionals.length !== 1 || positionals[0] !== "create") problems.push('the only subcommand is "create"');
  if (values.name === undefined || !NAME.test(values.name) || values.name === "anonymous") {
    problems.push('--name: 1-63 letters, digits, ".", "_" or "-" (not "anonymous")');
  }
  const folders = (values.folders ?? "").split(",").map((f) => f.trim()).filter(Boolean);
  if (folders.length === 0) problems.push("--folders: one or more folder ids, comma-separated, or *");
  if (values.role !== "viewer" && values.role !== "editor") problems.push("--role: viewer or editor");
  if (values.hash !== "sha256" && values.hash !== "scrypt") problems.push("--hash: sha256 or scrypt");
  if (problems.length > 0) {
    err(`regplane keys: ${problems.join("; ")}\n\n${KEYS_HELP}`);
    return 2;
  }
  const key = newApiKey();
  const entry = {
    name: values.name!,
    hash: await hashApiKey(key, values.hash as "sha256" | "scrypt"),
    folders: folders.includes("*") ? ["*"] : folders,
    role: values.role,
  };
  const yaml = stringify({ auth: { keys: [entry] } }, { flow: false });
  out(
    `API key for ${entry.name} (shown only now; regplane keeps just its hash):\n\n  ${key}\n\n` +
      `Add this entry under auth.keys in the config file and restart regplane:\n\n${yaml}`,
  );
  return 0;
}
