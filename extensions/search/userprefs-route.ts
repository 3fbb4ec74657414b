/**
 * Zot's `PUT /v2/_zot/ext/userprefs?action=toggleStar|toggleBookmark&repo=<name>`: toggles a star or a bookmark
 * of the signed-in user, stored in the MetaStore and seen through search (`IsStarred`, `IsBookmarked`,
 * `StarCount`, `StarredRepos`, `BookmarkedRepos`). Zot's statuses: 400 without an action or repo, 404 for an
 * empty or unknown repository, 403 for an anonymous caller, 200 with an empty body when toggled.
 */
import type { AccessCheck, HttpContext, Identity } from '../../core/extensions/api';
import type { SearchStore } from './search-store';

const ACTIONS = { toggleStar: 'stars', toggleBookmark: 'bookmarks' } as const;

export function userPrefsHandler(store: SearchStore, access: () => AccessCheck) {
  return async (ctx: HttpContext) => {
    const action = ctx.query.action;
    const repo = ctx.query.repo;
    const done = (status: number) => {
      ctx.body = '';
      ctx.status = status;
    };
    if (typeof action !== 'string' || !(action in ACTIONS) || typeof repo !== 'string') return done(400);
    if (repo === '') return done(404);
    const user = (ctx.state.user as Identity | undefined)?.user;
    if (!user) return done(403);
    await access().require(ctx, repo, 'read');
    if (!(await store.record(repo))) return done(404);
    await store.togglePref(user, repo, ACTIONS[action as keyof typeof ACTIONS]);
    return done(200);
  };
}
