import type { ReactNode } from 'react';

/** A page that exists in the route table but is built later. */
export function Placeholder({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main className="page center">
      <div className="card" data-testid="placeholder">
        <h1>{title}</h1>
        {children}
        <p className="muted">
          <a href="/">Back to the viewer</a>
        </p>
      </div>
    </main>
  );
}
