// A doubly linked FIFO whose nodes carry their own links: appending and unlinking any node are O(1) pointer writes
// with no allocation, which is why the per-request queues (deadlines, requests held at zero) use it instead of an
// array (O(n) removal) or a Set (a hash entry per request).
export interface ListNode<T> {
  prev: T | null;
  next: T | null;
}

export class IntrusiveList<T extends ListNode<T>> {
  head: T | null = null;
  tail: T | null = null;
  size = 0;

  push(node: T): void {
    node.prev = this.tail;
    node.next = null;
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.size++;
  }

  /** `node` must be in this list. */
  remove(node: T): void {
    if (node.prev === null) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = null;
    this.size--;
  }
}
