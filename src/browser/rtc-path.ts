/**
 * Which path a PeerConnection's traffic takes, from its selected ICE candidate pair: through a
 * TURN relay when either side's candidate is a relay candidate, else direct (host, or
 * server-reflexive through NAT hole punching).
 */
export type RtcPath = 'direct' | 'turn';

interface StatsEntry {
  type: string;
  id: string;
  selectedCandidatePairId?: string;
  selected?: boolean;
  nominated?: boolean;
  state?: string;
  localCandidateId?: string;
  remoteCandidateId?: string;
  candidateType?: string;
}

export async function selectedPath(pc: RTCPeerConnection): Promise<RtcPath | undefined> {
  const stats = new Map<string, StatsEntry>();
  (await pc.getStats()).forEach((s: StatsEntry) => stats.set(s.id, s));
  const all = [...stats.values()];
  // Chromium names the pair on the transport; Firefox marks the pair itself as selected.
  const viaTransport = all.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair =
    (viaTransport && stats.get(viaTransport.selectedCandidatePairId!)) ??
    all.find((s) => s.type === 'candidate-pair' && s.selected === true) ??
    all.find((s) => s.type === 'candidate-pair' && s.nominated === true && s.state === 'succeeded');
  if (!pair) return undefined;
  const local = stats.get(pair.localCandidateId ?? '');
  const remote = stats.get(pair.remoteCandidateId ?? '');
  if (!local || !remote) return undefined;
  return local.candidateType === 'relay' || remote.candidateType === 'relay' ? 'turn' : 'direct';
}
