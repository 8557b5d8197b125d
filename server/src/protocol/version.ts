/**
 * The memcached version both programs report (`version`, `stats`): the memcached release whose text and
 * meta protocol they follow, so that clients that pick features by version see what they get.
 */
export const VERSION = '1.6.18';
