/** The software identity reported in the CapabilityStatement, read once from package.json. */
import fs from 'node:fs';

const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
const started = new Date().toISOString();

export const SOFTWARE = { name: 'Hearth', packageName: pkg.name, version: pkg.version, releaseDate: started };
