import { warmUpDevice } from '@matchmesh/client';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import './styles.css';

// The watch page's first join waits on the browser's WebRTC capabilities (a throwaway peer connection):
// asked now, while React renders and the session exchange answers (issue 20).
if (window.location.pathname === '/watch') warmUpDevice();

const root = document.getElementById('root');
if (!root) throw new Error('#root missing from index.html');
createRoot(root).render(
  <StrictMode>
    <App path={window.location.pathname} />
  </StrictMode>,
);
