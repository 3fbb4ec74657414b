import 'reflect-metadata';
import { container, type DependencyContainer, type InjectionToken } from 'tsyringe';

/**
 * One child container per app instance, so several berth apps (a mirror and its upstream in a test) live in
 * one process. Registration is explicit, against symbol tokens; registering a token twice is a bug and throws.
 */
export interface Scope {
  value<T>(token: symbol, value: T): void;
  singleton<T>(token: symbol, cls: new (...args: never[]) => T): void;
  resolve<T>(token: InjectionToken<T>): T;
  dispose(): Promise<void>;
}

export function createScope(): Scope {
  const child: DependencyContainer = container.createChildContainer();
  const registered = new Set<symbol>();
  const claim = (token: symbol) => {
    if (registered.has(token)) throw new Error(`service ${token.description} registered twice`);
    registered.add(token);
  };
  return {
    value(token, value) {
      claim(token);
      child.register(token, { useValue: value });
    },
    singleton(token, cls) {
      claim(token);
      child.registerSingleton(token, cls as never);
    },
    resolve: (token) => child.resolve(token),
    dispose: () => child.dispose() as Promise<void>,
  };
}
