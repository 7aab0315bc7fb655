/** Process entry for the `hearth` command (bin/hearth runs the compiled copy). */
import { main } from './main.js';

await main(process.argv.slice(2));
