/** Per-customer lifecycle state. */
export interface LifecycleState {
  stage: string;
  since: number;
}

export function newLifecycleState(): LifecycleState {
  return { stage: 'acquisition', since: 0 };
}
