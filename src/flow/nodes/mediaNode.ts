import { type NodeExecutor, next } from './nodeExecutor.ts';

/** The Graph client drops what a kind cannot carry (a caption on audio, a file name on an image). */
export const mediaNode: NodeExecutor<'media'> = {
  enter(node, context) {
    const { kind, url, caption, filename } = node.media;
    context.send({
      type: kind,
      media: {
        url: context.render(url),
        ...(caption === undefined ? {} : { caption: context.render(caption).slice(0, 1024) }),
        ...(filename === undefined ? {} : { filename: context.render(filename) }),
      },
    });
    return next(node.next);
  },
};
