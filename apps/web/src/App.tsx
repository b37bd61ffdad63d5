import { CommentatorPage } from './commentator/CommentatorPage.tsx';
import { OpsPage } from './ops/OpsPage.tsx';
import { Placeholder } from './pages/Placeholder.tsx';
import { ViewerPage } from './viewer/ViewerPage.tsx';

/** Routing by path; the node server serves index.html for each of these. */
export function App({ path }: { path: string }) {
  const route = path.replace(/\/+$/, '') || '/';
  switch (route) {
    case '/':
    case '/watch':
      return <ViewerPage />;
    case '/commentate':
      return <CommentatorPage />;
    case '/ops':
      return <OpsPage />;
    default:
      return (
        <Placeholder title="Not found">
          <p>
            Nothing at <code>{path}</code>.
          </p>
        </Placeholder>
      );
  }
}
