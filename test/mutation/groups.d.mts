// Types of groups.mjs (plain JavaScript so that stryker.config.mjs can load it).
export interface MutationGroup {
  name: string;
  mutate: string[];
  tests: string[];
}
export declare const groups: MutationGroup[];
export declare function selectedGroup(env?: NodeJS.ProcessEnv): MutationGroup;
