/** Three and five servers each dialling the one before: clients at both ends talk across. */
import { meshScenario } from './mesh-shapes.js';

meshScenario(3, 'line');
meshScenario(5, 'line');
