/** Three and five servers all dialling one hub: clients on two leaves talk across. */
import { meshScenario } from './mesh-shapes.js';

meshScenario(3, 'star');
meshScenario(5, 'star');
